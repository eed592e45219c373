"""The hostile-input tables of drill 5: resources the API server must refuse, server answers the operator
must report, and payload references it must refuse to follow.

The 33 admission cases of tests/e2e/test_admission.py (wrong types, bad enums, prefixes with `..`,
bounds of thresholds, lifecycle and runner fields) are not repeated here; ADMISSION extends them with
oversized fields, unicode and encoding tricks, path tricks in every key-like field, and extreme numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.dw_emulator import EmulatedServer
from tests.e2e.test_admission import GOOD, mutate


# ---------------------------------------------------------------------------------------- admission
def both_local(path: str) -> dict[str, Any]:
    """GOOD moved to the local driver, with this path."""
    body = mutate("s3", None)
    body["spec"] |= {"driver": "local", "local": {"path": path}}
    assert GOOD["spec"]["driver"] == "s3"
    return body


ADMISSION: list[tuple[str, dict[str, Any], str]] = [
    ("oversized prefix", mutate("prefix", "a" * 1025), "spec.prefix"),
    ("oversized server url", mutate("server.url", "https://dw.example/" + "p" * 2048), "spec.server.url"),
    ("oversized namespace name", mutate("server.namespaces", ["n" * 129]), "spec.server.namespaces"),
    ("oversized local path", both_local("/" + "d" * 1024), "spec.local.path"),
    ("unicode namespace name", mutate("server.namespaces", ["ordérs"]), "spec.server.namespaces"),
    ("namespace with a slash", mutate("server.namespaces", ["orders/../admin"]), "spec.server.namespaces"),
    ("namespace with a newline", mutate("server.namespaces", ["orders\nX-Injected: 1"]), "spec.server.namespaces"),
    ("prefix with NUL", mutate("prefix", "orders\x00/avro"), "spec.prefix"),
    ("prefix that is ..", mutate("prefix", ".."), "spec.prefix"),
    ("prefix with encoded dots", mutate("prefix", "%2e%2e/etc"), "spec.prefix"),
    ("prefix with backslashes", mutate("prefix", "orders\\..\\etc"), "spec.prefix"),
    ("prefix with trailing slash", mutate("prefix", "orders/"), "spec.prefix"),
    ("prefix with empty segment", mutate("prefix", "orders//avro"), "spec.prefix"),
    ("prefix with fullwidth dots", mutate("prefix", "\uff0e\uff0e/etc"), "spec.prefix"),
    ("prefix with right-to-left override", mutate("prefix", "orders\u202eorp"), "spec.prefix"),
    ("tmp prefix climbing out", mutate("lifecycle", {"tmpPrefixes": ["../tmp/"]}), "spec.lifecycle.tmpPrefixes"),
    ("tmp prefix through ..", mutate("lifecycle", {"tmpPrefixes": ["tmp/../avro/"]}), "spec.lifecycle.tmpPrefixes"),
    ("tmp prefix on quarantine", mutate("lifecycle", {"tmpPrefixes": ["quarantine/"]}), "spec.lifecycle.tmpPrefixes"),
    ("tmp prefix absolute", mutate("lifecycle", {"tmpPrefixes": ["/tmp/"]}), "spec.lifecycle.tmpPrefixes"),
    ("huge expiration", mutate("lifecycle", {"expirationDays": 10**12}), "spec.lifecycle.expirationDays"),
    ("negative expiration", mutate("lifecycle", {"expirationDays": -1}), "spec.lifecycle.expirationDays"),
    ("threshold beyond int64", mutate("thresholdBytes", 2**64), "thresholdBytes"),
    ("fractional threshold", mutate("thresholdBytes", 1.5), "spec.thresholdBytes"),
    ("resync every second", mutate("server.resyncIntervalSeconds", 1), "spec.server.resyncIntervalSeconds"),
    ("resync never", mutate("server.resyncIntervalSeconds", 10**9), "spec.server.resyncIntervalSeconds"),
    ("zero request timeout", mutate("server.requestTimeoutSeconds", 0), "spec.server.requestTimeoutSeconds"),
    ("huge request timeout", mutate("server.requestTimeoutSeconds", 10**6), "spec.server.requestTimeoutSeconds"),
    ("no integrity concurrency", mutate("integrity", {"concurrency": 0}), "spec.integrity.concurrency"),
    ("huge integrity concurrency", mutate("integrity", {"concurrency": 100000}), "spec.integrity.concurrency"),
    ("negative history limit", mutate("runner", {"historyLimit": -1}), "spec.runner.historyLimit"),
    ("zero shards", mutate("runner", {"shards": 0}), "spec.runner.shards"),
    ("one-second deadline", mutate("runner", {"activeDeadlineSeconds": 1}), "spec.runner.activeDeadlineSeconds"),
    ("relative local path", both_local("payloads"), "spec.local.path"),
    ("local path with NUL", both_local("/srv/pay\x00loads"), "spec.local.path"),
    (
        "javascript endpoint",
        mutate("s3", {"bucket": "dw-payloads", "endpoint": "javascript:alert(1)"}),
        "spec.s3.endpoint",
    ),
    ("file endpoint", mutate("s3", {"bucket": "dw-payloads", "endpoint": "file:///etc/passwd"}), "spec.s3.endpoint"),
    ("endpoint with whitespace", mutate("s3", {"bucket": "dw-payloads", "endpoint": "http://a b"}), "spec.s3.endpoint"),
    ("token key with a slash", mutate("server.tokenSecretRef", {"name": "dw", "key": "../token"}), "key"),
    ("grace period in years", mutate("retention", {"orphanAudit": {"minAge": "1y"}}), "minAge"),
    ("grace period overflowing", mutate("retention", {"orphanAudit": {"minAge": "9999999h"}}), "minAge"),
    ("six-field schedule", mutate("retention", {"schedule": "* * * * * *"}), "spec.retention.schedule"),
    ("@reboot schedule", mutate("integrity", {"schedule": "@reboot"}), "spec.integrity.schedule"),
    ("oversized schedule", mutate("integrity", {"schedule": "0 " * 100 + "*"}), "spec.integrity.schedule"),
]


# ------------------------------------------------------------------------------------ server answers
@dataclass(frozen=True)
class Answer:
    """A broken or hostile answer the emulator gives; the operator must say `reason` and keep running."""

    name: str
    install: Callable[[EmulatedServer], object]
    reason: str
    condition: str = "PolicySynced"
    message: str = ""  # text the condition message must contain
    namespaces: tuple[str, ...] = field(default=("orders",))


def _echo_token(server: EmulatedServer) -> object:
    token = server.token("admin")
    return server.faults.set(500, body={"message": f"bad request headers: Authorization: Bearer {token}"})


def _echo_token_in_policy(server: EmulatedServer) -> object:
    token = server.token("admin")
    return server.faults.set(200, method="PUT", body={"external_payload_storage": {"driver": "local", "note": token}})


ANSWERS = [
    Answer(
        "malformed-json",
        lambda s: s.faults.malformed_json(path_prefix="/api/cluster/info"),
        "BadResponse",
        message="malformed JSON",
    ),
    Answer(
        "html-page",
        lambda s: s.faults.wrong_content_type(path_prefix="/api/namespaces/"),
        "BadResponse",
        message="text/html",
    ),
    Answer("truncated-body", lambda s: s.faults.truncated_body(path_prefix="/api/namespaces/"), "ServerUnreachable"),
    Answer("connection-reset", lambda s: s.faults.reset(path_prefix="/api/cluster/info"), "ServerUnreachable"),
    Answer(
        "json-array",
        lambda s: s.faults.set(200, body=[1, 2, 3], path_prefix="/api/cluster/info"),
        "BadResponse",
        message="JSON object",
    ),
    Answer("html-error-page", lambda s: s.faults.wrong_content_type(status=502), "ServerFailure", message="HTTP 502"),
    Answer("unauthorized", lambda s: setattr(s.faults, "unauthorized", True), "Unauthorized", message="401"),
    Answer(
        "forbidden",
        lambda s: s.faults.set(
            403, body={"reason": "forbidden", "message": "Authenticated role is not allowed to access this endpoint."}
        ),
        "Forbidden",
    ),
    Answer(
        "namespace-vanished",
        lambda s: s.faults.set(
            404,
            path_prefix="/api/namespaces/",
            body={"reason": "namespace_not_found", "message": "Namespace [orders] not found."},
        ),
        "NamespaceNotFound",
    ),
    Answer(
        "write-refused-422",
        lambda s: s.faults.set(
            422,
            method="PUT",
            body={
                "message": "The given data was invalid.",
                "errors": {"config.uri": ["The config.uri field is invalid."]},
            },
        ),
        "ValidationFailed",
        message="422",
    ),
    Answer(
        "write-echoes-other-policy",
        lambda s: s.faults.set(
            200, method="PUT", body={"external_payload_storage": {"driver": "s3", "enabled": False}}
        ),
        "VerifyFailed",
        message="read back after write",
    ),
    Answer("throttled-forever", lambda s: s.faults.set(429, retry_after="inf"), "Throttled", message="429"),
    Answer(
        "oversized-error",
        lambda s: s.faults.set(500, body={"message": "E" * 200_000, "reason": "r\n" * 10_000}),
        "ServerFailure",
    ),
    Answer(
        "storage-driver-gone",
        lambda s: setattr(s.faults, "storage_status", "driver_unavailable"),
        "StorageDriverUnavailable",
        condition="StorageReachable",
    ),
    Answer("server-echoes-the-token", _echo_token, "ServerFailure", message="HTTP 500"),
    Answer("answer-echoes-the-token", _echo_token_in_policy, "BadResponse", message="credentials"),
    Answer(
        "oversized-storage-status",
        lambda s: setattr(s.faults, "storage_status", "unavailable-" * 20_000),
        "StorageUnavailable",
        condition="StorageReachable",
    ),
]


# ---------------------------------------------------------------------------------------- references
GEN_A_SCHEMA = "durable-workflow.v2.external-payload-reference.v1"


@dataclass(frozen=True)
class HostileReference:
    """A reference a history might carry; `refused`: never followed (counted invalid), else reported."""

    name: str
    build: Callable[[str, str, int], dict[str, Any]]  # (bucket, sha256, size) -> the envelope's reference
    refused: bool = True


def _reference(bucket: str, sha: str, size: int, **overrides: Any) -> dict[str, Any]:
    base = {
        "schema": GEN_A_SCHEMA,
        "uri": f"s3://{bucket}/dw/avro/{sha[:2]}/{sha}",
        "sha256": sha,
        "size_bytes": size,
        "codec": "avro",
    }
    return {k: v for k, v in (base | overrides).items() if v is not None}


def _uri(template: str) -> Callable[[str, str, int], dict[str, Any]]:
    return lambda b, sha, size: _reference(b, sha, size, uri=template.format(b=b, sha=sha, d=sha[:2]))


REFERENCES = [
    HostileReference("sha256 not hex", lambda b, _sha, n: _reference(b, "zz" * 32, n)),
    HostileReference("sha256 too short", lambda b, sha, n: _reference(b, sha[:63], n)),
    HostileReference("sha256 with a path", lambda b, sha, n: _reference(b, "../" + sha[3:], n)),
    HostileReference("negative size", lambda b, sha, _n: _reference(b, sha, -1)),
    HostileReference("size as text", lambda b, sha, n: _reference(b, sha, n, size_bytes=str(n))),
    HostileReference("size as boolean", lambda b, sha, n: _reference(b, sha, n, size_bytes=True)),
    HostileReference("no codec", lambda b, sha, n: _reference(b, sha, n, codec=None)),
    HostileReference("foreign schema", lambda b, sha, n: _reference(b, sha, n, schema="evil.reference.v1")),
    HostileReference("no uri", lambda b, sha, n: _reference(b, sha, n, uri=None)),
    HostileReference("another bucket", _uri("s3://{b}-bait/dw/avro/{d}/{sha}")),
    HostileReference("outside the prefix", _uri("s3://{b}/secret/avro/{d}/{sha}")),
    HostileReference("prefix lookalike", _uri("s3://{b}/dw-evil/avro/{d}/{sha}")),
    HostileReference("dot-dot out of the prefix", _uri("s3://{b}/dw/../secret/avro/{d}/{sha}")),
    HostileReference("encoded dot-dot", _uri("s3://{b}/dw/%2e%2e/secret/avro/{d}/{sha}")),
    HostileReference("encoded slashes", _uri("s3://{b}/dw%2F..%2Fsecret/avro/{d}/{sha}")),
    HostileReference("unicode division slash", _uri("s3://{b}/dw\u2215..\u2215secret/avro/{d}/{sha}")),
    HostileReference("empty segment", _uri("s3://{b}/dw//avro/{d}/{sha}")),
    HostileReference("NUL in the key", _uri("s3://{b}/dw/avro/{d}/{sha}%00")),
    HostileReference("user info before the bucket", _uri("s3://{b}@{b}-bait/dw/avro/{d}/{sha}")),
    HostileReference("file scheme", _uri("file:///etc/passwd")),
    HostileReference("https scheme", _uri("https://evil.example/dw/avro/{d}/{sha}")),
    HostileReference("key names another sha256", _uri("s3://{b}/dw/avro/00/" + "0" * 64)),
    HostileReference("size beyond any store", lambda b, sha, _n: _reference(b, sha, 10**20)),
    HostileReference("size its object lacks", lambda b, sha, _n: _reference(b, sha, 10**15), refused=False),
]
