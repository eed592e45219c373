"""Gen B runtime transport ``POST/GET /api/external-payloads/v1[/{referenceId}]`` (§6.5)."""

from __future__ import annotations

import re

from aiohttp import web

from ..context import CTX, NAMESPACE
from ..contract import ANY_ROLE, CODEC_HEADER, SHA256_HEADER, SIZE_HEADER, UPLOAD_SCHEMA
from ..payloads import runtime_reference
from ..registry import TransportFailure, oversized, unsupported
from ..responses import json_response, route_missing, transport_error
from ..routing import RouteMeta, route

META = RouteMeta(roles=ANY_ROLE, control_plane=False, transport=True)
_SIZE = re.compile(r"\A(?:0|[1-9][0-9]*)\Z")


def _declared_size(request: web.Request) -> int:
    value = request.headers.get(SIZE_HEADER)
    if value is None or _SIZE.match(value) is None:
        raise unsupported("X-Durable-Workflow-Payload-Size must declare a non-negative integer.")
    return int(value)


def _failure(exc: TransportFailure) -> web.Response:
    return transport_error(exc.reason, exc.status, exc.message, retryable=exc.retryable)


def _missing(request: web.Request) -> web.Response:
    return route_missing(request.path)


@route(META)
async def upload(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    if not ctx.gen_b:
        return _missing(request)
    try:
        if request.content_type.lower() != "application/octet-stream":
            raise TransportFailure(
                "external_payload_unsupported",
                415,
                "Runtime external payload uploads require application/octet-stream.",
            )
        declared = _declared_size(request)
        limit = ctx.limits.transport_max_payload_bytes
        if declared > limit:
            raise TransportFailure(
                "external_payload_oversized", 413, "Declared external payload size exceeds the runtime transport limit."
            )
        data = await request.content.read(limit + 1)
        if len(data) > limit:
            raise oversized()
        if len(data) != declared:
            raise TransportFailure(
                "external_payload_integrity_mismatch",
                422,
                "Declared external payload size does not match the uploaded bytes.",
            )
        reference = ctx.registry.upload(
            request[NAMESPACE],
            data,
            request.headers.get(CODEC_HEADER, ""),
            request.headers.get(SHA256_HEADER, ""),
        )
    except TransportFailure as exc:
        return _failure(exc)
    return json_response(
        {"schema": UPLOAD_SCHEMA, "transport_version": 1, "reference": reference},
        201,
        headers={"Cache-Control": "no-store, private"},
    )


@route(META)
async def fetch(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    if not ctx.gen_b:
        return _missing(request)
    try:
        declared = _declared_size(request)
        reference = runtime_reference(
            request.match_info["reference_id"],
            request.headers.get(SHA256_HEADER, "").lower(),
            declared,
            request.headers.get(CODEC_HEADER, ""),
        )
        data, stored = ctx.registry.fetch(request[NAMESPACE], reference)
    except TransportFailure as exc:
        return _failure(exc)
    return web.Response(
        body=data,
        status=200,
        content_type="application/octet-stream",
        headers={
            CODEC_HEADER: str(stored["codec"]),
            SIZE_HEADER: str(stored["size_bytes"]),
            SHA256_HEADER: str(stored["sha256"]),
            "ETag": f'"sha256:{stored["sha256"]}"',
            "Cache-Control": "private, max-age=60, immutable",
        },
    )


def register(router: web.UrlDispatcher) -> None:
    router.add_post("/api/external-payloads/v1", upload)
    router.add_get("/api/external-payloads/v1/{reference_id}", fetch)
