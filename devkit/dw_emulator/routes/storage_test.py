"""``POST /api/storage/test``: write, read, verify and delete through the namespace driver (§6.4)."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from ..context import BODY, CTX, NAMESPACE, EmulatorContext
from ..contract import ADMIN, GEN_A_DRIVERS, GEN_B_DRIVERS
from ..responses import json_response, server_error, validation_failed
from ..routing import RouteMeta, route
from ..storage import Driver, StorageError
from ..validation import as_integer, normalise_input, validate


def _failed(
    reason: str, message: str, namespace: str, driver: str | None, extra: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {
        "status": "failed",
        "reason": reason,
        "message": message,
        "namespace": namespace,
        "driver": driver,
    }
    return json_response({**body, **(extra or {})}, 422)


def _round_trip(ctx: EmulatorContext, driver: Driver, kind: str, size: int) -> dict[str, Any]:
    payload = (b"s" if kind == "small" else b"l") * size
    expected = hashlib.sha256(payload).hexdigest()
    codec = "avro" if ctx.gen_b else f"storage-test-{kind}"
    uri = driver.put(payload, expected, codec)
    read = driver.get(uri)
    driver.delete(uri)
    if read != payload:
        raise StorageError("External storage round trip failed integrity verification.")
    result: dict[str, Any] = {"status": "passed", "bytes": size, "sha256": expected}
    if ctx.gen_b:
        result["reference_identity_sha256"] = hashlib.sha256(uri.encode()).hexdigest()
    else:
        result["reference_uri"] = uri
    return result


@route(RouteMeta(roles=ADMIN, json_body=True))
async def storage_test(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    drivers = GEN_B_DRIVERS if ctx.gen_b else GEN_A_DRIVERS
    data = normalise_input(request[BODY])
    errors = validate(
        data,
        {
            "driver": ["nullable", "string", "in:" + ",".join(drivers)],
            "small_payload_bytes": ["required", "integer", "min:1", "max:1048576"],
            "large_payload_bytes": ["required", "integer", "min:1", "max:16777216"],
        },
    )
    if errors:
        return validation_failed(errors)
    namespace: str = request[NAMESPACE]
    ns = ctx.state.namespace(namespace)
    policy = (ns.external_payload_storage if ns else None) or {}
    driver_name = data.get("driver") or policy.get("driver")
    if not isinstance(driver_name, str) or not driver_name:
        return _failed(
            "external_storage_not_configured",
            "External payload storage is not configured for this namespace.",
            namespace,
            None,
        )
    if policy.get("enabled", True) is False:
        return _failed(
            "external_storage_disabled",
            "External payload storage is disabled for this namespace.",
            namespace,
            driver_name,
        )
    if driver_name != policy.get("driver"):
        return _failed(
            "storage_driver_unavailable",
            "The requested external payload storage driver is not configured for this namespace.",
            namespace,
            driver_name,
            {"supported_diagnostic_drivers": ["local"]},
        )
    resolution = ctx.storage.resolve(namespace, policy)
    if resolution.driver is None:
        extra: dict[str, Any] = {"supported_diagnostic_drivers": list(drivers)}
        if ctx.gen_b:
            extra = {"configuration_error": resolution.configuration_error, **extra}
        return _failed(
            "storage_driver_unavailable",
            "The server can persist this storage policy, but the configured storage driver is not available "
            "in this runtime.",
            namespace,
            driver_name,
            extra,
        )
    try:
        small = _round_trip(ctx, resolution.driver, "small", as_integer(data["small_payload_bytes"]) or 1)
        large = _round_trip(ctx, resolution.driver, "large", as_integer(data["large_payload_bytes"]) or 1)
    except (StorageError, OSError):
        return server_error()  # the real controller lets the driver exception escape (500)
    return json_response(
        {
            "status": "passed",
            "namespace": namespace,
            "driver": driver_name,
            "small_payload": small,
            "large_payload": large,
        }
    )


def register(router: web.UrlDispatcher) -> None:
    router.add_post("/api/storage/test", storage_test)
