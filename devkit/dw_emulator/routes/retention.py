"""``/api/system/retention[/pass]`` (§6.6) and Gen B ``/api/system/external-payload-cleanup[/pass]`` (§6.7)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import cleanup, retention
from ..context import BODY, CTX, NAMESPACE
from ..contract import ADMIN
from ..responses import iso_seconds, json_response, route_missing, validation_failed
from ..routing import RouteMeta, route
from ..validation import as_integer, normalise_input, validate

META = RouteMeta(roles=ADMIN)
POST_META = RouteMeta(roles=ADMIN, json_body=True)


@route(META)
async def retention_status(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    query = dict(request.query)
    errors = validate(query, {"limit": ["nullable", "integer", "min:1"]})
    if errors:
        return validation_failed(errors)
    limit = min(retention.MAX_LIMIT, as_integer(query.get("limit")) or retention.MAX_LIMIT)
    namespace: str = request[NAMESPACE]
    mode, days, cutoff = retention.retention_policy(ctx, namespace)
    expired = [r.run_id for r in retention.expired_runs(ctx, namespace, limit)]
    body: dict[str, Any] = {"namespace": namespace}
    if ctx.gen_b:
        body["retention_mode"] = mode
    body.update(
        {
            "retention_days": days,
            "cutoff": iso_seconds(cutoff),
            "expired_run_count": len(expired),
            "expired_run_ids": expired,
            "scan_limit": limit,
            "scan_pressure": len(expired) >= limit,
        }
    )
    return json_response(body)


@route(POST_META)
async def retention_pass(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    data = normalise_input(request[BODY])
    errors = validate(
        data,
        {
            "limit": ["nullable", "integer", "min:1"],
            "run_ids": ["nullable", "array", "max:100"],
            "run_ids.*": ["string", "min:1", "max:128"],
        },
    )
    if errors:
        return validation_failed(errors)
    limit = min(retention.MAX_LIMIT, as_integer(data.get("limit")) or retention.MAX_LIMIT)
    run_ids = [str(v) for v in data.get("run_ids") or []]
    namespace: str = request[NAMESPACE]
    report = retention.run_pass(ctx, namespace, limit, run_ids)
    status = 207 if report["failed"] > 0 else 200
    if not ctx.gen_b:
        return json_response(report, status)
    mode, days, cutoff = retention.retention_policy(ctx, namespace)
    header = {"namespace": namespace, "retention_mode": mode, "retention_days": days, "cutoff": iso_seconds(cutoff)}
    return json_response({**header, **report}, status)


@route(META)
async def cleanup_status(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    if not ctx.gen_b:
        return route_missing(request.path)
    namespace: str = request[NAMESPACE]
    return json_response({"namespace": namespace, "cleanup": cleanup.snapshot(ctx, namespace)})


@route(POST_META)
async def cleanup_pass(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    if not ctx.gen_b:
        return route_missing(request.path)
    data = normalise_input(request[BODY])
    errors = validate(data, {"limit": ["nullable", "integer", "min:1", f"max:{cleanup.MAX_BATCH_SIZE}"]})
    if errors:
        return validation_failed(errors)
    namespace: str = request[NAMESPACE]
    report = cleanup.run_pass(ctx, namespace, as_integer(data.get("limit")) or cleanup.DEFAULT_BATCH_SIZE)
    return json_response({"namespace": namespace, "cleanup": report}, 207 if report["blocked"] > 0 else 200)


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/api/system/retention", retention_status)
    router.add_post("/api/system/retention/pass", retention_pass)
    router.add_get("/api/system/external-payload-cleanup", cleanup_status)
    router.add_post("/api/system/external-payload-cleanup/pass", cleanup_pass)
