"""``/api/health``, ``/api/ready`` (no auth) and ``/api/cluster/info`` (any role, no version header)."""

from __future__ import annotations

from aiohttp import web

from ..context import CTX, NAMESPACE
from ..contract import ANY_ROLE
from ..discovery import cluster_info
from ..responses import iso_seconds, json_response
from ..routing import RouteMeta, route

OPEN = RouteMeta(roles=None, control_plane=False, namespace_required=False)


@route(OPEN)
async def health(request: web.Request) -> web.Response:
    now = iso_seconds(request.app[CTX].state.now())
    return json_response({"status": "serving", "timestamp": now, "checks": {"database": "ok"}})


@route(OPEN)
async def ready(request: web.Request) -> web.Response:
    """The captured readiness answer: every check ok (this emulator has no database to lose)."""
    checks = {
        "database": {"status": "ok"},
        "migrations": {"status": "ok"},
        "default_namespace": {"status": "ok", "namespace": "default"},
        "cache": {"status": "ok", "store": "file"},
        "auth": {"status": "ok", "driver": "token"},
    }
    now = iso_seconds(request.app[CTX].state.now())
    return json_response({"status": "ready", "timestamp": now, "checks": checks})


@route(RouteMeta(roles=ANY_ROLE, control_plane=False, version_optional=True, namespace_required=False))
async def info(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    return json_response(cluster_info(ctx, request[NAMESPACE]))


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/api/health", health)
    router.add_get("/api/ready", ready)
    router.add_get("/api/cluster/info", info)
