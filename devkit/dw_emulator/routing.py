"""Route metadata: which roles, headers and namespace checks a route needs (``routes/api.php``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RouteMeta:
    roles: tuple[str, ...] | None  # None: unauthenticated (health/ready)
    control_plane: bool = True  # requires X-Durable-Workflow-Control-Plane-Version: 2
    version_optional: bool = False  # /api/cluster/info: only an explicit wrong version is refused
    namespace_required: bool = True  # NamespaceResolver refuses unknown namespaces
    json_body: bool = False  # body must be application/json (415 otherwise)
    transport: bool = False  # Gen B runtime transport: typed error envelope


def route(meta: RouteMeta) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        handler.__dict__["dw_meta"] = meta
        return handler

    return decorate


def meta_of(handler: Any) -> RouteMeta | None:
    meta = getattr(handler, "dw_meta", None)
    return meta if isinstance(meta, RouteMeta) else None
