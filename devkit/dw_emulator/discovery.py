"""``GET /api/cluster/info`` bodies: the captured Gen A answer plus the storage discovery blocks (§6.3)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from .context import EmulatorContext
from .contract import (
    CODEC_HEADER,
    REFERENCE_SCHEMA,
    RUNTIME_REFERENCE_SCHEMA,
    SHA256_HEADER,
    SIZE_HEADER,
    TRANSPORT_SCHEMA,
)
from .storage import policy_config

GEN_B_VERSION = "2.3.14"


@cache
def _gen_a_base() -> dict[str, Any]:
    path = Path(__file__).with_name("data") / "cluster_info_gen_a.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def transport_manifest(ctx: EmulatorContext) -> dict[str, Any]:
    """``RuntimeExternalPayloadReference::transportManifest()``."""
    limits = ctx.limits
    return {
        "schema": TRANSPORT_SCHEMA,
        "version": 1,
        "reference_schema": RUNTIME_REFERENCE_SCHEMA,
        "mode": "authenticated_namespace_runtime",
        "upload": {
            "method": "POST",
            "path": "/api/external-payloads/v1",
            "content_type": "application/octet-stream",
            "declared_metadata_headers": [CODEC_HEADER, SIZE_HEADER, SHA256_HEADER],
            "idempotency": "content_addressed_per_namespace",
        },
        "fetch": {
            "method": "GET",
            "path_template": "/api/external-payloads/v1/{referenceId}",
            "content_type": "application/octet-stream",
            "cache_control": "immutable, max-age=60, private",
        },
        "authorization": {
            "authentication": "normal_runtime_role_credential",
            "namespace_header": "X-Namespace",
            "roles": ["worker", "operator", "admin"],
            "cross_namespace_lookup": "not_found_without_existence_disclosure",
            "provider_credentials_exposed": False,
        },
        "limits": {
            "max_payload_bytes": limits.transport_max_payload_bytes,
            "buffering": "bounded_by_declared_and_observed_size",
            "request_timeout_seconds": limits.transport_request_timeout_seconds,
            "abandoned_upload_expiry_seconds": limits.abandoned_upload_expiry_seconds,
        },
        "integrity": {
            "algorithm": "sha256",
            "upload_verified_before_reference_commit": True,
            "fetch_verified_before_response": True,
            "sdk_must_verify_before_decode": True,
        },
        "retention": {
            "authority": "namespace_runtime",
            "client_delete_supported": False,
            "sdk_cache_may_delete_backing_object": False,
            "reference_claim": "first_verified_state-bearing_request",
        },
        "direct_provider_adapters": {
            "required": False,
            "default_enabled": False,
            "self_hosted_only": True,
            "capability_negotiated": True,
        },
        "typed_outcomes": {
            "external_payload_not_found": {"status": 404, "retryable": False},
            "external_payload_expired": {"status": 410, "retryable": False},
            "external_payload_unauthorized": {"statuses": [401, 403], "retryable": False},
            "external_payload_unavailable": {"status": 503, "retryable": True},
            "external_payload_oversized": {"status": 413, "retryable": False},
            "external_payload_unsupported": {"statuses": [415, 422], "retryable": False},
            "external_payload_integrity_mismatch": {"status": 422, "retryable": False},
        },
        "audit_events": [
            "external_payload.uploaded",
            "external_payload.fetched",
            "external_payload.claimed",
            "external_payload.rejected",
        ],
        "secrets_in_references_or_logs": False,
    }


def _scheme(driver: str | None, config: dict[str, Any]) -> str | None:
    if driver == "local":
        return "file"
    if driver == "custom":
        scheme = config.get("scheme")
        return scheme if isinstance(scheme, str) and scheme else None
    return driver if driver in ("s3", "gcs", "azure") else None


def storage_block(ctx: EmulatorContext, namespace: str) -> dict[str, Any]:
    """``HealthController::externalPayloadStoragePolicy`` for either generation."""
    ns = ctx.state.namespace(namespace)
    policy = (ns.external_payload_storage if ns is not None else None) or {}
    driver = policy.get("driver") if isinstance(policy.get("driver"), str) else None
    enabled = bool(policy) and policy.get("enabled", True) is not False
    threshold = policy.get("threshold_bytes") or ctx.limits.max_payload_bytes
    config = policy_config(policy)
    resolution = ctx.storage.resolve(namespace, policy or None)
    if ctx.gen_b:
        return {
            "schema": RUNTIME_REFERENCE_SCHEMA,
            "version": 1,
            "configured": bool(policy),
            "enabled": enabled,
            "status": resolution.status,
            "threshold_bytes": int(threshold),
            "transport": transport_manifest(ctx),
            "provider_details_exposed": False,
            "direct_provider_adapters": {
                "required": False,
                "default_enabled": False,
                "capability_negotiated": True,
            },
            "configuration_error": resolution.configuration_error,
        }
    return {
        "schema": REFERENCE_SCHEMA,
        "version": 1,
        "configured": bool(policy),
        "enabled": enabled,
        "status": resolution.status,
        "driver": driver,
        "threshold_bytes": int(threshold),
        "reference_uri_scheme": _scheme(driver, config),
        "supported_drivers": ["local", "s3", "gcs", "azure", "custom"],
        "custom_driver_configurable": True,
        "config_redacted": config != {},
    }


def namespace_block(ctx: EmulatorContext, namespace: str) -> dict[str, Any]:
    ns = ctx.state.namespace(namespace)
    block: dict[str, Any] = {"name": namespace, "exists": ns is not None, "status": ns.status if ns else None}
    if ctx.gen_b:
        block["retention_mode"] = ns.retention_mode if ns else None
    block["retention_days"] = ns.retention_days if ns else None
    block["external_payload_storage"] = storage_block(ctx, namespace)
    return block


def cluster_info(ctx: EmulatorContext, namespace: str) -> dict[str, Any]:
    body = copy.deepcopy(_gen_a_base())
    fleet = body.get("worker_fleet")
    if isinstance(fleet, dict):
        fleet["namespace"] = namespace
    if ctx.gen_b:
        body["version"] = GEN_B_VERSION
        body["worker_protocol"].setdefault("server_capabilities", {})["runtime_external_payload_transport"] = True
        body["namespace"] = namespace_block(ctx, namespace)
    elif ctx.discovery:
        body["namespace"] = namespace_block(ctx, namespace)
    return body
