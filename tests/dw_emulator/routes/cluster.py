"""``/api/health``, ``/api/ready`` (no auth) and ``/api/cluster/info`` (any role, no version header)."""

from __future__ import annotations

from aiohttp import web

from ..context import CTX, NAMESPACE
from ..contract import ANY_ROLE
from ..discovery import cluster_info
from ..responses import json_response
from ..routing import RouteMeta, route

OPEN = RouteMeta(roles=None, control_plane=False, namespace_required=False)


@route(OPEN)
async def health(request: web.Request) -> web.Response:
    return json_response({"status": "serving", "timestamp": request.app[CTX].state.now().isoformat()})


@route(OPEN)
async def ready(_request: web.Request) -> web.Response:
    return json_response({"status": "ready"})


@route(RouteMeta(roles=ANY_ROLE, control_plane=False, version_optional=True, namespace_required=False))
async def info(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    return json_response(cluster_info(ctx, request[NAMESPACE]))


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/api/health", health)
    router.add_get("/api/ready", ready)
    router.add_get("/api/cluster/info", info)
