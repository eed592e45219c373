"""aiohttp middlewares: request log + faults (outer), then auth/role/version/namespace (inner).

The inner gate follows the real middleware order: ``Authenticate`` (401) → ``RequireRole`` (403)
→ ``ControlPlaneVersionResolver`` (400) → body media type (415) → ``NamespaceResolver`` (404).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import web

from .context import BODY, CTX, NAMESPACE, ROLE, EmulatorContext
from .contract import CONTROL_PLANE_HEADER, CONTROL_PLANE_VERSION, NAMESPACE_HEADER, UNAUTHORIZED_BODY
from .faults import FaultRule
from .payloads import contains_key
from .reqlog import RequestRecord
from .responses import json_response, namespace_not_found, route_missing, server_error, transport_error
from .routing import RouteMeta, meta_of

log = logging.getLogger("dw_emulator")

_HTML = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    "<body><h1>Bad Gateway</h1><p>The upstream server returned an invalid response.</p></body></html>\n"
)


def _status_fault(rule: FaultRule) -> web.Response:
    headers = {}
    if rule.retry_after is not None:
        headers["Retry-After"] = str(rule.retry_after)
    body = rule.body
    if body is None:
        body = {"message": "Too Many Attempts."} if rule.status == 429 else _default_status_body(rule.status)
    return json_response(body, rule.status, headers=headers)


def _default_status_body(status: int) -> dict[str, Any]:
    if status == 503:
        return {"message": "Service Unavailable"}
    if status >= 500:
        return {"message": "Server Error"}
    return {"message": "Injected fault."}


async def _truncate(request: web.Request, response: web.Response) -> web.StreamResponse:
    body = response.body if isinstance(response.body, bytes) else b""
    stream = web.StreamResponse(status=response.status)
    stream.content_type = response.content_type
    stream.content_length = max(len(body), 2)
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.abort()
    return stream


def _abort(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.abort()
    return web.StreamResponse(status=444)


async def _apply_after(request: web.Request, rule: FaultRule, response: web.StreamResponse) -> web.StreamResponse:
    if not isinstance(response, web.Response):
        return response
    if rule.kind == "malformed_json":
        body = response.body if isinstance(response.body, bytes) else b"{}"
        cut = body[: max(1, len(body) // 2)]
        return web.Response(body=cut, status=response.status, content_type="application/json")
    if rule.kind == "wrong_content_type":
        return web.Response(text=_HTML, status=rule.status or response.status, content_type="text/html")
    if rule.kind == "truncated":
        return await _truncate(request, response)
    return response


def _http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    path = request.path.lstrip("/")
    if exc.status == 405:
        return json_response({"message": f"The {request.method} method is not supported for route {path}."}, 405)
    if exc.status == 404:
        return route_missing(path)
    return json_response({"message": exc.reason}, exc.status)


@web.middleware
async def observe(request: web.Request, handler: Any) -> web.StreamResponse:
    """Outermost: apply faults and latency, turn exceptions into JSON, record the request."""
    ctx = request.app[CTX]
    faults = ctx.faults
    fault_name: str | None = None
    response: web.StreamResponse
    try:
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)
        rule = faults.take(request.method, request.path)
        if rule is not None:
            fault_name = rule.kind
        if rule is not None and rule.kind == "status":
            response = _status_fault(rule)
        elif rule is not None and rule.kind == "reset":
            response = _abort(request)
        elif faults.unauthorized:
            fault_name = "unauthorized"
            response = json_response(UNAUTHORIZED_BODY, 401)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = _http_exception(request, exc)
            if rule is not None:
                response = await _apply_after(request, rule, response)
    except Exception:
        log.exception("dw_emulator: unhandled error for %s %s", request.method, request.path)
        response = server_error()
    ctx.log.append(
        RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query_string,
            status=response.status,
            namespace=request.get(NAMESPACE),
            role=request.get(ROLE),
            timestamp=time.time(),
            fault=fault_name,
        )
    )
    return response


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _forbidden(meta: RouteMeta, role: str) -> web.Response:
    if meta.transport:
        return transport_error(
            "external_payload_unauthorized", 403, "Authenticated role is not allowed to access this endpoint."
        )
    return json_response(
        {
            "reason": "forbidden",
            "message": "Authenticated role is not allowed to access this endpoint.",
            "role": role,
            "allowed_roles": list(meta.roles or ()),
        },
        403,
    )


def _version_error(requested: str | None) -> web.Response | None:
    value = requested.strip() if requested is not None else None
    if value == CONTROL_PLANE_VERSION:
        return None
    if not value:
        return json_response(
            {
                "message": "Missing control-plane version header.",
                "reason": "missing_control_plane_version",
                "supported_version": CONTROL_PLANE_VERSION,
                "requested_version": None,
                "remediation": (
                    "Send the X-Durable-Workflow-Control-Plane-Version: 2 header on control-plane requests."
                ),
            },
            400,
        )
    return json_response(
        {
            "message": "Unsupported control-plane version.",
            "reason": "unsupported_control_plane_version",
            "supported_version": CONTROL_PLANE_VERSION,
            "requested_version": value,
            "remediation": ("Send the X-Durable-Workflow-Control-Plane-Version: 2 header on control-plane requests."),
        },
        400,
    )


def _is_json(request: web.Request) -> bool:
    ctype = request.content_type.lower()
    return ctype == "application/json" or ctype.endswith("+json")


async def _read_json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}  # Laravel: an unparseable JSON body is an empty input bag
    return parsed if isinstance(parsed, dict) else {}


def _namespace(request: web.Request) -> str:
    value = request.headers.get(NAMESPACE_HEADER) or request.query.get("namespace") or "default"
    return value.strip().lower()


async def _gate(ctx: EmulatorContext, request: web.Request, meta: RouteMeta, handler: Any) -> web.StreamResponse:
    if meta.roles is None:
        return await handler(request)  # type: ignore[no-any-return]
    role = ctx.tokens.role_for(_bearer(request))
    if role is None:
        if meta.transport:
            return transport_error("external_payload_unauthorized", 401, UNAUTHORIZED_BODY["message"])
        return json_response(UNAUTHORIZED_BODY, 401)
    request[ROLE] = role
    if role not in meta.roles:
        return _forbidden(meta, role)
    requested = request.headers.get(CONTROL_PLANE_HEADER)
    if meta.control_plane and (error := _version_error(requested)) is not None:
        return error
    if (
        meta.version_optional
        and requested is not None
        and requested.strip()
        and (error := _version_error(requested)) is not None
    ):
        return error
    if meta.json_body and request.can_read_body and request.content_length != 0 and not _is_json(request):
        return json_response(
            {
                "message": "Request bodies must use a JSON media type.",
                "reason": "unsupported_media_type",
                "accepted_content_types": ["application/json", "application/*+json"],
            },
            415,
        )
    namespace = _namespace(request)
    request[NAMESPACE] = namespace
    if meta.namespace_required and ctx.state.namespace(namespace) is None:
        return namespace_not_found(namespace, resolver=True, listing=request.path == "/api/workflows")
    if meta.json_body:
        body = await _read_json(request)
        if ctx.gen_b and contains_key(body, "external_storage"):
            return transport_error(
                "external_payload_unsupported",
                422,
                "Provider-specific external_storage references are not accepted by the runtime transport.",
            )
        request[BODY] = body
    return await handler(request)  # type: ignore[no-any-return]


@web.middleware
async def gate(request: web.Request, handler: Any) -> web.StreamResponse:
    ctx = request.app[CTX]
    meta = meta_of(request.match_info.handler)
    if meta is None:
        return await handler(request)  # type: ignore[no-any-return]
    response = await _gate(ctx, request, meta, handler)
    if meta.control_plane or meta.version_optional:
        response.headers[CONTROL_PLANE_HEADER] = CONTROL_PLANE_VERSION
    return response
