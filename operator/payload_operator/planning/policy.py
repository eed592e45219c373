"""The namespace storage policy: what to PUT, how to compare, what workers and servers need.

Pure functions only. The server contract (§6.1, §12) decides the shape: PUT replaces the whole
policy, credentials never go in it, `azure-blob` is refused, empty config values are dropped, and a
Gen A server silently drops config keys it does not know, so those are never sent to it.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any

from payload_operator.api.spec import Driver, ExternalPayloadStorageSpec
from payload_operator.api.status import ServerGeneration
from payload_operator.planning.keys import SCHEMES_BY_DRIVER

Policy = dict[str, Any]

# Config keys each server generation stores (§6.1; container, name and scheme are newer).
GEN_A_CONFIG_KEYS = frozenset({"uri", "bucket", "disk", "prefix", "region", "endpoint", "auth_profile"})
GEN_B_CONFIG_KEYS = GEN_A_CONFIG_KEYS | {"container", "name", "scheme"}

RUNTIME_TRANSPORT_SCHEMA = "durable-workflow.v2.runtime-external-payload-transport.v1"
STORAGE_TEST_SMALL_BYTES = 1024
STORAGE_TEST_MAX_LARGE_BYTES = 16 * 1024 * 1024
STATUS_WORD = re.compile(r"[a-z][a-z0-9_]{0,63}")


# The filesystem disk each provider driver names when spec.server.storageDisk is empty. Only
# external-payload-s3 exists in the stock server configuration (§8); gcs and azure need a server image
# that defines theirs.
DEFAULT_DISKS = {
    Driver.S3: "external-payload-s3",
    Driver.GCS: "external-payload-gcs",
    Driver.AZURE: "external-payload-azure",
}
GEN_B_FIXED_S3_DISK = "external-payload-s3"


def storage_disk(spec: ExternalPayloadStorageSpec, generation: ServerGeneration) -> str:
    """The config.disk a server needs to build the driver, or "" when it needs none.

    Gen A builds a provider driver only from config.disk plus config.bucket (§12, captured exchanges);
    Gen B falls back to its fixed s3 disk, and needs a named disk for gcs and azure (§8).
    """
    if spec.driver == Driver.LOCAL:
        return ""
    if spec.server.storage_disk:
        return spec.server.storage_disk
    if generation == ServerGeneration.B and spec.driver == Driver.S3:
        return ""
    return DEFAULT_DISKS[spec.driver]


def _provider_config(spec: ExternalPayloadStorageSpec, generation: ServerGeneration) -> dict[str, str]:
    """Provider settings in the server's config vocabulary, before generation filtering."""
    prefix = spec.prefix.strip("/")
    disk = storage_disk(spec, generation)
    if spec.driver == Driver.S3 and spec.s3:
        s3 = spec.s3
        return {"disk": disk, "bucket": s3.bucket, "region": s3.region, "endpoint": s3.endpoint, "prefix": prefix}
    if spec.driver == Driver.GCS and spec.gcs:
        return {"disk": disk, "bucket": spec.gcs.bucket, "prefix": prefix, "scheme": SCHEMES_BY_DRIVER["gcs"][0]}
    if spec.driver == Driver.AZURE and spec.azure:
        # Gen A knows no `container` key; it reads the container from `bucket` (§4, §6.1).
        container_key = "container" if generation == ServerGeneration.B else "bucket"
        scheme = SCHEMES_BY_DRIVER["azure"][0]
        return {"disk": disk, container_key: spec.azure.container, "prefix": prefix, "scheme": scheme}
    if spec.driver == Driver.LOCAL and spec.local:
        # The server refuses worker references outside this root, so it must be the workers' root (§12).
        return {"uri": PurePosixPath(spec.local.path).as_uri(), "prefix": prefix}
    raise ValueError(f"spec.{spec.driver.value} is missing")


def desired_policy(spec: ExternalPayloadStorageSpec, generation: ServerGeneration) -> Policy:
    """The complete PUT body for one namespace; never credentials."""
    allowed = GEN_B_CONFIG_KEYS if generation == ServerGeneration.B else GEN_A_CONFIG_KEYS
    config = {k: v for k, v in _provider_config(spec, generation).items() if v and k in allowed}
    body: Policy = {"driver": spec.driver.value, "enabled": spec.enabled, "threshold_bytes": spec.threshold_bytes}
    if config:
        body["config"] = config
    return body


def normalize_policy(policy: Any) -> Policy | None:
    """A comparable form of a stored policy: empty values dropped, prefix slashes trimmed."""
    if not isinstance(policy, dict) or not policy.get("driver"):
        return None
    config = policy.get("config") if isinstance(policy.get("config"), dict) else {}
    cleaned = {k: v for k, v in (config or {}).items() if v not in (None, "")}
    if isinstance(cleaned.get("prefix"), str):
        cleaned["prefix"] = cleaned["prefix"].strip("/")
        if not cleaned["prefix"]:
            del cleaned["prefix"]
    threshold = policy.get("threshold_bytes")
    return {
        "driver": str(policy["driver"]).lower(),
        "enabled": bool(policy.get("enabled", True)),
        "threshold_bytes": threshold if isinstance(threshold, int) else None,
        "config": dict(sorted(cleaned.items())),
    }


def policy_differences(desired: Policy, observed: Any) -> list[str]:
    """Human-readable differences, empty when the observed policy already is the desired one."""
    want = normalize_policy(desired)
    have = normalize_policy(observed)
    if have is None:
        return ["no policy set"]
    assert want is not None
    diffs = [
        f"{field} is {have[field]!r}, want {want[field]!r}"
        for field in ("driver", "enabled", "threshold_bytes")
        if have[field] != want[field]
    ]
    for key in sorted(set(want["config"]) | set(have["config"])):
        if want["config"].get(key) != have["config"].get(key):
            diffs.append(f"config.{key} is {have['config'].get(key)!r}, want {want['config'].get(key)!r}")
    return diffs


def detect_generation(cluster_info: Any) -> ServerGeneration:
    """Gen B when the runtime payload transport is advertised (contract, last section, point 1)."""
    if not isinstance(cluster_info, dict):
        return ServerGeneration.UNKNOWN
    namespace_block = cluster_info.get("namespace")
    storage = namespace_block.get("external_payload_storage") if isinstance(namespace_block, dict) else None
    transport = storage.get("transport") if isinstance(storage, dict) else None
    if isinstance(transport, dict) and transport.get("schema") == RUNTIME_TRANSPORT_SCHEMA:
        return ServerGeneration.B
    worker_protocol = cluster_info.get("worker_protocol")
    capabilities = worker_protocol.get("server_capabilities") if isinstance(worker_protocol, dict) else None
    if isinstance(capabilities, dict) and capabilities.get("runtime_external_payload_transport"):
        return ServerGeneration.B
    return ServerGeneration.A


def discovered_storage_status(cluster_info: Any) -> str | None:
    """The storage status cluster-info reports, or None for servers without the block (§12)."""
    namespace_block = cluster_info.get("namespace") if isinstance(cluster_info, dict) else None
    storage = namespace_block.get("external_payload_storage") if isinstance(namespace_block, dict) else None
    status = storage.get("status") if isinstance(storage, dict) else None
    if not isinstance(status, str):
        return None
    # A status word (available, driver_unavailable, ...); anything else is not copied into status.
    return status if STATUS_WORD.fullmatch(status) else "unrecognized"


def driver_unavailable_remedy(spec: ExternalPayloadStorageSpec, generation: ServerGeneration, env_secret: str) -> str:
    """What the server needs before it can build the policy's driver (storage_driver_unavailable)."""
    if spec.driver == Driver.LOCAL:
        return f"the server needs a writable directory at {spec.bucket} (spec.local.path) in its own filesystem"
    disk = storage_disk(spec, generation)
    env = (
        f"; the disk reads the DW_EXTERNAL_PAYLOAD_S3_* variables of Secret {env_secret}, which every server,"
        " worker and scheduler pod must load"
        if spec.driver == Driver.S3
        else ""
    )
    if not disk:
        return f"the server uses its fixed disk {GEN_B_FIXED_S3_DISK} for s3{env}"
    where = "the stock image defines only external-payload-s3" if spec.driver != Driver.S3 else "config/filesystems.php"
    return (
        f"the server builds its {spec.driver.value} driver only from a filesystem disk named {disk!r} ({where}) and"
        f" config.bucket: define that disk on the server or set spec.server.storageDisk to one it has{env}"
    )


def spec_notes(spec: ExternalPayloadStorageSpec) -> list[str]:
    """Settings the server will not honour as written, said once so nobody trusts them."""
    if spec.driver == Driver.LOCAL and spec.prefix.strip("/"):
        return [
            f"spec.prefix {spec.prefix!r} is ignored by the local driver: the server and the SDK write under"
            f" {spec.bucket.rstrip('/')}/avro/, where the operator looks too"
        ]
    return []


def storage_test_sizes(spec: ExternalPayloadStorageSpec) -> tuple[int, int]:
    """Probe sizes: a small payload, and one just over the threshold so it really goes external."""
    return STORAGE_TEST_SMALL_BYTES, min(spec.threshold_bytes + 1, STORAGE_TEST_MAX_LARGE_BYTES)


def worker_policy_document(spec: ExternalPayloadStorageSpec) -> str:
    """The policy JSON for workers, in the shape `ExternalPayloadStoragePolicy.from_dict` accepts."""
    config = {k: v for k, v in _provider_config(spec, ServerGeneration.B).items() if v}
    document = {
        "external_payload_storage": {
            "driver": spec.driver.value,
            "enabled": spec.enabled,
            "threshold_bytes": spec.threshold_bytes,
            "integrity_required": spec.integrity_required,
            "prefix": spec.prefix.strip("/"),
            "config": config,
        }
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def server_env(spec: ExternalPayloadStorageSpec, credentials: dict[str, str]) -> dict[str, str]:
    """The DW_EXTERNAL_PAYLOAD_S3_* variables every server, worker and scheduler pod needs (§8)."""
    if spec.driver != Driver.S3 or spec.s3 is None:
        return {}
    env = {
        "DW_EXTERNAL_PAYLOAD_S3_BUCKET": spec.s3.bucket,
        "DW_EXTERNAL_PAYLOAD_S3_REGION": spec.s3.region,
        "DW_EXTERNAL_PAYLOAD_S3_USE_PATH_STYLE_ENDPOINT": "true" if spec.s3.force_path_style else "false",
    }
    if spec.s3.endpoint:
        env["DW_EXTERNAL_PAYLOAD_S3_ENDPOINT"] = spec.s3.endpoint
    for secret_key, env_name in (
        ("accessKeyId", "DW_EXTERNAL_PAYLOAD_S3_ACCESS_KEY_ID"),
        ("secretAccessKey", "DW_EXTERNAL_PAYLOAD_S3_SECRET_ACCESS_KEY"),
        ("sessionToken", "DW_EXTERNAL_PAYLOAD_S3_SESSION_TOKEN"),
    ):
        if credentials.get(secret_key):
            env[env_name] = credentials[secret_key]
    return env
