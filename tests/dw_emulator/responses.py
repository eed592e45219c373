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


def namespace_not_found(name: str, *, resolver: bool) -> web.Response:
    """``NamespaceResolver`` 404 (with remediation) or the namespace controller's own 404."""
    if resolver:
        return json_response(
            {
                "message": f"Namespace '{name}' does not exist.",
                "reason": "namespace_not_found",
                "namespace": name,
                "remediation": (
                    "Register the namespace via POST /api/namespaces, or send an X-Namespace "
                    "header naming an existing namespace."
                ),
            },
            404,
        )
    return json_response(
        {"message": f"Namespace [{name}] not found.", "reason": "namespace_not_found", "namespace": name}, 404
    )


def server_error() -> web.Response:
    """Laravel's production 500 answer."""
    return json_response({"message": "Server Error"}, 500)


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
