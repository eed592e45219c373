"""JSON answers and the error shapes the real server uses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .contract import (
    CONTROL_PLANE_CONTRACT_SCHEMA,
    CONTROL_PLANE_RESPONSE_SCHEMA,
    TRANSPORT_ERROR_SCHEMA,
)
from .validation import summary


def iso_seconds(value: datetime | None) -> str | None:
    """Carbon ``toIso8601String()``: ``2026-11-20T22:31:27+00:00``."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def iso_micros(value: datetime | None) -> str | None:
    """Carbon ``toJSON()``: ``2026-11-20T22:32:03.357553Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def control_plane_block(
    operation: str,
    workflow_id: str | None = None,
    *,
    required_fields: Sequence[str] = (),
    success_fields: Sequence[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    return {
        "schema": CONTROL_PLANE_RESPONSE_SCHEMA,
        "version": 1,
        "operation": operation,
        "workflow_id": workflow_id,
        "contract": {
            "schema": CONTROL_PLANE_CONTRACT_SCHEMA,
            "version": 1,
            "legacy_field_policy": "reject_non_canonical",
            "legacy_fields": {
                "query": "query_name",
                "signal": "signal_name",
                "update": "update_name",
                "wait_policy": "wait_for",
            },
            "required_fields": list(required_fields),
            "success_fields": list(success_fields),
        },
        **extra,
    }


def validation_failed(errors: dict[str, list[str]]) -> web.Response:
    return json_response(
        {
            "message": summary(errors),
            "reason": "validation_failed",
            "errors": errors,
            "validation_errors": errors,
        },
        422,
    )


def control_plane_refusal(
    operation: str, errors: dict[str, list[str]], *, success_fields: Sequence[str] = ()
) -> web.Response:
    """A control-plane route's 422: the validation body plus its control-plane block (captured)."""
    message = summary(errors)
    block = control_plane_block(
        operation, success_fields=success_fields, reason="validation_failed", validation_errors=errors, message=message
    )
    body = {"message": message, "reason": "validation_failed", "errors": errors, "validation_errors": errors}
    return json_response(body | {"control_plane": block}, 422)


def namespace_not_found(name: str, *, resolver: bool, listing: bool = False) -> web.Response:
    """``NamespaceResolver`` 404 (with remediation; the workflow list adds its control-plane block) or
    the namespace controller's own 404."""
    if resolver:
        message = f"Namespace '{name}' does not exist."
        body: dict[str, Any] = {
            "message": message,
            "reason": "namespace_not_found",
            "namespace": name,
            "remediation": (
                "Register the namespace via POST /api/namespaces, or send an X-Namespace "
                "header naming an existing namespace."
            ),
        }
        if listing:
            body["control_plane"] = control_plane_block(
                "list", None, namespace=name, reason="namespace_not_found", message=message
            )
        return json_response(body, 404)
    return json_response(
        {"message": f"Namespace [{name}] not found.", "reason": "namespace_not_found", "namespace": name}, 404
    )


def route_missing(path: str) -> web.Response:
    """Laravel's 404 for a route this server does not have (captured: Gen B routes on Gen A)."""
    return json_response({"message": f"The route {path.lstrip('/')} could not be found.", "reason": "not_found"}, 404)


def server_error() -> web.Response:
    """Laravel's production 500 answer."""
    return json_response({"message": "Server Error"}, 500)


AVRO_SOURCE = "/app/vendor/durable-workflow/workflow/src/Serializers/Avro.php"
AVRO_CLASS = "Workflow\\Serializers\\Avro"


def unknown_avro_prefix(first_byte: int) -> web.Response:
    """The captured server's debug-mode 500 for payload bytes its Avro codec does not know (SDK 2.x)."""
    frames = [
        (487, "{closure:Workflow\\Serializers\\Avro::decodeWrapped():300}"),
        (300, "suppressDeprecations"),
        (192, "decodeWrapped"),
    ]
    return json_response(
        {
            "message": f"Unknown Avro payload prefix: 0x{first_byte:02x} (expected 0x00 generic wrapper or 0x01 typed"
            " schema). Remediation: These bytes were not produced by Workflow\\Serializers\\Avro::serialize()."
            " Re-encode the payload with the Avro codec, or change the codec tag if the producer used a different"
            " codec.",
            "exception": "Workflow\\Serializers\\CodecDecodeException",
            "file": AVRO_SOURCE,
            "line": 329,
            "trace": [
                {"file": AVRO_SOURCE, "line": line, "function": function, "class": AVRO_CLASS, "type": "::"}
                for line, function in frames
            ],
        },
        500,
    )


def transport_error(reason: str, status: int, message: str, *, retryable: bool = False) -> web.Response:
    return json_response(
        {
            "schema": TRANSPORT_ERROR_SCHEMA,
            "reason": reason,
            "message": message,
            "retryable": retryable,
            "status": status,
        },
        status,
    )
