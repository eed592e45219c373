"""Constants of the Durable Workflow HTTP contract (schemas, headers, limits)."""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE_SCHEMA = "durable-workflow.v2.external-payload-reference.v1"
RUNTIME_REFERENCE_SCHEMA = "durable-workflow.v2.runtime-external-payload-reference.v1"
TRANSPORT_SCHEMA = "durable-workflow.v2.runtime-external-payload-transport.v1"
UPLOAD_SCHEMA = "durable-workflow.v2.runtime-external-payload-upload.v1"
TRANSPORT_ERROR_SCHEMA = "durable-workflow.v2.runtime-external-payload-error.v1"
CLEANUP_METRICS_SCHEMA = "durable-workflow.v2.runtime-external-payload-cleanup-metrics.v1"
CONTROL_PLANE_RESPONSE_SCHEMA = "durable-workflow.v2.control-plane-response"
CONTROL_PLANE_CONTRACT_SCHEMA = "durable-workflow.v2.control-plane-response.contract"
HISTORY_EXPORT_SCHEMA = "durable-workflow.v2.history-export"

CONTROL_PLANE_HEADER = "X-Durable-Workflow-Control-Plane-Version"
CONTROL_PLANE_VERSION = "2"
NAMESPACE_HEADER = "X-Namespace"
CODEC_HEADER = "X-Durable-Workflow-Payload-Codec"
SIZE_HEADER = "X-Durable-Workflow-Payload-Size"
SHA256_HEADER = "X-Durable-Workflow-Payload-SHA256"

TRANSPORT_UPLOAD_PATH = "/api/external-payloads/v1"

ROLES = ("admin", "operator", "worker")
ADMIN = ("admin",)
OPERATOR = ("operator", "admin")
ANY_ROLE = ("worker", "operator", "admin")

GEN_A_DRIVERS = ("local", "s3", "gcs", "azure")
GEN_B_DRIVERS = ("local", "s3", "gcs", "azure", "custom")
PROVIDER_DRIVERS = ("s3", "gcs", "azure", "custom")

# config.* keys the server knows, with their maximum lengths (§6.1).
GEN_A_CONFIG_LIMITS: dict[str, int] = {
    "uri": 2048,
    "bucket": 255,
    "disk": 255,
    "prefix": 1024,
    "region": 128,
    "endpoint": 2048,
    "auth_profile": 255,
}
GEN_B_CONFIG_LIMITS: dict[str, int] = {
    **GEN_A_CONFIG_LIMITS,
    "container": 255,
    "name": 255,
    "scheme": 64,
}

UNAUTHORIZED_BODY = {"reason": "unauthorized", "message": "Invalid or missing authentication token."}


@dataclass(frozen=True)
class Limits:
    """Server limits (``config/server.php`` defaults)."""

    max_payload_bytes: int = 2 * 1024 * 1024  # DW_MAX_PAYLOAD_BYTES, default threshold
    transport_max_payload_bytes: int = 64 * 1024 * 1024  # DW_EXTERNAL_PAYLOAD_MAX_BYTES
    transport_request_timeout_seconds: int = 30
    abandoned_upload_expiry_seconds: int = 3600
    default_retention_days: int = 30
