"""The hostile-input tables of drill 5: resources the API server must refuse, server answers the operator
must report, and payload references it must refuse to follow.

The 33 admission cases of tests/e2e/test_admission.py (wrong types, bad enums, prefixes with `..`,
bounds of thresholds, lifecycle and runner fields) are not repeated here; ADMISSION extends them with
oversized fields, unicode and encoding tricks, path tricks in every key-like field, and extreme numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devkit.dw_emulator import EmulatedServer

from tests.e2e.test_admission import GOOD, mutate


# ---------------------------------------------------------------------------------------- admission
def both_local(path: str) -> dict[str, Any]:
    """GOOD moved to the local driver, with this path."""
    body = mutate("s3", None)
    body["spec"] |= {"driver": "local", "local": {"path": path}}
    assert GOOD["spec"]["driver"] == "s3"
    return body


def gcs_with(block: dict[str, Any]) -> dict[str, Any]:
    """GOOD moved to the gcs driver, with this block."""
    body = mutate("s3", None)
    body["spec"] |= {"driver": "gcs", "gcs": block}
    return body


def azure_with(block: dict[str, Any]) -> dict[str, Any]:
    """GOOD moved to the azure driver, with this block."""
    body = mutate("s3", None)
    body["spec"] |= {"driver": "azure", "azure": block}
    return body


def prefix_with_lifecycle(prefix: str) -> dict[str, Any]:
    """GOOD with this prefix and temporary prefixes that look harmless on their own."""
    body = mutate("prefix", prefix)
    body["spec"]["lifecycle"] = {"tmpPrefixes": ["00/", "01/"], "expirationDays": 1}
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
    # issue 14: names that climb out of their path segment, URLs that smuggle credentials or paths
    ("namespace that is .", mutate("server.namespaces", ["."]), "spec.server.namespaces"),
    ("namespace that is ..", mutate("server.namespaces", [".."]), "spec.server.namespaces"),
    ("namespace .. among good ones", mutate("server.namespaces", ["orders", ".."]), "spec.server.namespaces"),
    ("server url with userinfo", mutate("server.url", "https://admin@evil.example"), "spec.server.url"),
    ("server url with user and password", mutate("server.url", "https://dw.example:x@evil.example"), "spec.server.url"),
    ("server url ending in ?", mutate("server.url", "https://dw.example/?"), "spec.server.url"),
    ("server url with a query", mutate("server.url", "https://dw.example/x?next="), "spec.server.url"),
    ("server url with a fragment", mutate("server.url", "https://dw.example/#"), "spec.server.url"),
    ("server url with a backslash", mutate("server.url", "https://evil.example\\@dw.example"), "spec.server.url"),
    (
        "s3 endpoint with userinfo",
        mutate("s3", {"bucket": "dw-payloads", "endpoint": "http://k:s@127.0.0.1:9000"}),
        "spec.s3.endpoint",
    ),
    (
        "s3 endpoint with a query",
        mutate("s3", {"bucket": "dw-payloads", "endpoint": "https://minio.example/?x=1"}),
        "spec.s3.endpoint",
    ),
    (
        "gcs endpoint with a fragment",
        gcs_with({"bucket": "dw-payloads", "endpoint": "https://storage.googleapis.com#evil"}),
        "spec.gcs.endpoint",
    ),
    (
        "azure account url with userinfo",
        azure_with({"container": "payloads", "accountUrl": "https://me@evil.example"}),
        "spec.azure.accountUrl",
    ),
    (
        "azure management endpoint with a query",
        azure_with(
            {
                "container": "payloads",
                "accountUrl": "https://acct.blob.core.windows.net",
                "managementPolicy": {
                    "subscriptionId": "00000000-0000-0000-0000-000000000000",
                    "resourceGroup": "rg",
                    "accountName": "acct",
                    "endpoint": "https://management.azure.com/?api-version=x",
                },
            }
        ),
        "spec.azure.managementPolicy.endpoint",
    ),
    ("local path //", both_local("//"), "spec.local.path"),
    ("local path climbing with ..", both_local("/srv/payloads/../../etc"), "spec.local.path"),
    ("local path with a dot segment", both_local("/srv/./payloads"), "spec.local.path"),
    ("local path with a newline", both_local("/srv/payloads\n/etc"), "spec.local.path"),
    ("local path with an empty segment", both_local("/srv//payloads"), "spec.local.path"),
    ("local path ending in ..", both_local("/srv/payloads/.."), "spec.local.path"),
    (
        "tmp prefix with avro at depth",
        mutate("lifecycle", {"tmpPrefixes": ["team/avro/00/"]}),
        "spec.lifecycle.tmpPrefixes",
    ),
    (
        "tmp prefix with quarantine at depth",
        mutate("lifecycle", {"tmpPrefixes": ["tmp/quarantine/"]}),
        "spec.lifecycle.tmpPrefixes",
    ),
    ("prefix inside another root's avro with lifecycle", prefix_with_lifecycle("namespaces/orders/avro"), "spec"),
    ("prefix inside a quarantine with lifecycle", prefix_with_lifecycle("x/quarantine"), "spec"),
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
    recovers: bool = True
    """Whether the resource is Ready again soon after the server behaves; a server that asked to be left alone
    for ever is left alone for RETRY_AFTER_CAP (15 min), longer than a drill waits."""


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
    Answer(
        "throttled-forever",
        lambda s: s.faults.set(429, retry_after="inf"),
        "Throttled",
        message="429",
        recovers=False,
    ),
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


# ------------------------------------------------------------------------------------ tenant policy
OPERATOR_NAMESPACE = "payload-operator"
TENANT_NAMESPACE = "team-a"
API_SERVER = "10.96.0.1"  # the kubernetes Service as pods reach it
GOOD_TENANT: dict[str, Any] = {
    "server": {"url": "https://dw.team-a.svc:8080", "tokenSecretRef": {"name": "dw-admin"}, "namespaces": ["orders"]},
    "driver": "s3",
    "s3": {"bucket": "dw-payloads", "region": "eu-west-1", "credentialsSecretRef": {"name": "dw-s3"}},
    "prefix": "namespaces/orders",
}
ARM = {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "rg", "accountName": "acct"}


@dataclass(frozen=True)
class TenantCase:
    """A resource one namespace's editor may create, and the admin setting its refusal must name."""

    name: str
    spec: dict[str, Any]  # merged over GOOD_TENANT (None removes a key)
    setting: str
    policy: dict[str, Any] = field(default_factory=dict)  # the admin's tenantPolicy (default: the defaults)
    addresses: dict[str, list[str]] = field(default_factory=dict)  # what names resolve to
    credentials: dict[str, str] | None = None  # the referenced credentials Secret's data
    namespace: str = TENANT_NAMESPACE


def _s3(**block: Any) -> dict[str, Any]:
    return {"s3": {"bucket": "dw-payloads", "credentialsSecretRef": {"name": "dw-s3"}} | block}


def _gcs(**block: Any) -> dict[str, Any]:
    return {"driver": "gcs", "s3": None, "gcs": {"bucket": "dw-payloads"} | block}


def _azure(**block: Any) -> dict[str, Any]:
    return {
        "driver": "azure",
        "s3": None,
        "azure": {"container": "payloads", "accountUrl": "https://acct.blob.core.windows.net"} | block,
    }


def _server(url: str) -> dict[str, Any]:
    return {"server": GOOD_TENANT["server"] | {"url": url}}


def _local(path: str) -> dict[str, Any]:
    return {"driver": "local", "s3": None, "local": {"path": path}}


AMBIENT = "ambientCredentialsNamespaces"
ENDPOINTS = "endpoints"
LOOPBACK_FOR_S3 = {"endpoints": [{"hosts": ["127.0.0.1"], "uses": ["s3"]}]}
SA_KEY = {"name": "gcs-key"}
TENANT = [
    # the operator's ambient identity (IRSA, Workload Identity, managed identity) is not the tenant's
    TenantCase("ambient s3 credentials", _s3(credentialsSecretRef=None), AMBIENT),
    TenantCase("ambient gcs credentials", _gcs(), AMBIENT),
    TenantCase("ambient azure credentials", _azure(), AMBIENT),
    TenantCase("ambient azure management plane", _azure(managementPolicy=ARM), AMBIENT),
    TenantCase(
        "secret without a service principal for the management plane",
        _azure(credentialsSecretRef={"name": "az"}, managementPolicy=ARM),
        AMBIENT,
        credentials={"connectionString": "AccountName=acct;AccountKey=k;EndpointSuffix=core.windows.net"},
    ),
    TenantCase(
        "ambient allowed for the operator's namespace only",
        _s3(credentialsSecretRef=None),
        AMBIENT,
        policy={"ambientCredentialsNamespaces": [OPERATOR_NAMESPACE]},
    ),
    # bearer tokens and keys only to hosts the admin allowed
    TenantCase(
        "gcs endpoint on loopback", _gcs(endpoint="http://127.0.0.1:9000", credentialsSecretRef=SA_KEY), ENDPOINTS
    ),
    TenantCase(
        "gcs endpoint on a tenant host with the ambient token", _gcs(endpoint="https://evil.example"), ENDPOINTS
    ),
    TenantCase(
        "azure account url on loopback",
        _azure(accountUrl="https://127.0.0.1:10000/acct"),
        ENDPOINTS,
        policy={"ambientCredentialsNamespaces": ["*"]},
    ),
    TenantCase(
        "azure account url on a tenant host",
        _azure(accountUrl="https://evil.example/acct", credentialsSecretRef={"name": "az"}),
        ENDPOINTS,
    ),
    TenantCase("s3 endpoint on the metadata service", _s3(endpoint="http://169.254.169.254"), ENDPOINTS),
    TenantCase("s3 endpoint on IPv6 loopback", _s3(endpoint="http://[::1]:9000"), ENDPOINTS),
    TenantCase("unlisted S3-compatible store", _s3(endpoint="https://minio.example.com"), ENDPOINTS),
    TenantCase(
        "s3 endpoint name resolving to loopback",
        _s3(endpoint="https://s3.attacker.example"),
        ENDPOINTS,
        addresses={"s3.attacker.example": ["127.0.0.1"]},
    ),
    TenantCase("public-looking suffix", _s3(endpoint="https://s3.amazonaws.com.evil.example"), ENDPOINTS),
    TenantCase("public host over plain http", _s3(endpoint="http://s3.amazonaws.com"), ENDPOINTS),
    TenantCase("unspecified address", _s3(endpoint="http://0.0.0.0:9000"), ENDPOINTS),
    TenantCase(
        "decimal loopback", _s3(endpoint="http://2130706433:9000"), ENDPOINTS, addresses={"2130706433": ["127.0.0.1"]}
    ),
    TenantCase(
        "public name resolving to the metadata service",
        _s3(endpoint="https://bucket.s3.amazonaws.com"),
        ENDPOINTS,
        addresses={"bucket.s3.amazonaws.com": ["169.254.169.254"]},
    ),
    TenantCase("server on loopback", _server("http://127.0.0.1:8080"), ENDPOINTS),
    TenantCase("server on the metadata service", _server("http://169.254.169.254/latest"), ENDPOINTS),
    TenantCase(
        "server name resolving to the metadata service",
        _server("http://metadata.google.internal"),
        ENDPOINTS,
        addresses={"metadata.google.internal": ["169.254.169.254"]},
    ),
    TenantCase("server on the API server", _server(f"https://{API_SERVER}"), ENDPOINTS),
    TenantCase(
        "server name resolving to the API server",
        _server("https://kubernetes.default.svc"),
        ENDPOINTS,
        addresses={"kubernetes.default.svc": [API_SERVER]},
    ),
    TenantCase(
        "server on localhost",
        _server("http://localhost:8080"),
        ENDPOINTS,
        addresses={"localhost": ["127.0.0.1", "::1"]},
    ),
    TenantCase("server on IPv4-mapped loopback", _server("http://[::ffff:127.0.0.1]:80"), ENDPOINTS),
    TenantCase("server on a multicast address", _server("http://224.0.0.1"), ENDPOINTS),
    TenantCase("server on IPv6 link-local", _server("http://[fe80::1]:80"), ENDPOINTS),
    TenantCase(
        "management endpoint on loopback",
        _azure(credentialsSecretRef={"name": "az"}, managementPolicy=ARM | {"endpoint": "https://127.0.0.1:8443"}),
        ENDPOINTS,
    ),
    TenantCase(
        "service-account key with a token_uri on loopback",
        _gcs(credentialsSecretRef=SA_KEY),
        ENDPOINTS,
        credentials={
            "service-account.json": json.dumps({"type": "service_account", "token_uri": "http://127.0.0.1:9/t"})
        },
    ),
    TenantCase(
        "connection string naming the metadata service",
        _azure(credentialsSecretRef={"name": "az"}),
        ENDPOINTS,
        credentials={"connectionString": "BlobEndpoint=http://169.254.169.254/;AccountName=a;AccountKey=k"},
    ),
    TenantCase(
        "connection string with a lowercase blobendpoint",
        _azure(credentialsSecretRef={"name": "az"}),
        ENDPOINTS,
        credentials={"connectionString": "blobendpoint=http://127.0.0.1:10000/a;AccountName=a;AccountKey=k"},
    ),
    TenantCase(
        "connection string with a secondary endpoint on loopback",
        _azure(credentialsSecretRef={"name": "az"}),
        ENDPOINTS,
        credentials={
            "connectionString": "BlobEndpoint=https://acct.blob.core.windows.net;"
            "BlobSecondaryEndpoint=http://127.0.0.1:10000/a;AccountKey=k"
        },
    ),
    TenantCase(
        "connection string naming a tenant host by account suffix",
        _azure(credentialsSecretRef={"name": "az"}),
        ENDPOINTS,
        credentials={"connectionString": "AccountName=acct;AccountKey=k;EndpointSuffix=evil.example"},
    ),
    TenantCase(
        "connection string for the development store",
        _azure(credentialsSecretRef={"name": "az"}),
        ENDPOINTS,
        credentials={"connectionString": "UseDevelopmentStorage=true"},
    ),
    TenantCase(
        "endpoint listed for another namespace",
        _s3(endpoint="http://127.0.0.1:9000"),
        ENDPOINTS,
        policy={"endpoints": [{"hosts": ["127.0.0.1"], "namespaces": ["team-b"]}]},
    ),
    TenantCase(
        "s3 endpoint reused for another provider's token",
        _gcs(endpoint="http://127.0.0.1:9000", credentialsSecretRef=SA_KEY),
        ENDPOINTS,
        policy=LOOPBACK_FOR_S3,
    ),
    TenantCase(
        "endpoint listed on another port",
        _s3(endpoint="http://127.0.0.1:9001"),
        ENDPOINTS,
        policy={"endpoints": [{"hosts": ["127.0.0.1:9000"]}]},
    ),
    TenantCase(
        "ambient token to a listed store without ambientCredentials",
        _gcs(endpoint="https://gcs.internal.example"),
        "endpoints[].ambientCredentials",
        policy={"ambientCredentialsNamespaces": ["*"], "endpoints": [{"hosts": ["gcs.internal.example"]}]},
    ),
    TenantCase(
        "wildcard listing whose name resolves to the metadata service",
        _s3(endpoint="https://rebind.example.com"),
        ENDPOINTS,
        policy={"endpoints": [{"hosts": ["*.example.com"]}]},
        addresses={"rebind.example.com": ["169.254.169.254"]},
    ),
    TenantCase(
        "plain http server where https is required",
        _server("http://dw.team-a.svc:8080"),
        "requireHttps",
        policy={"requireHttps": True},
    ),
    TenantCase(
        "plain http to a store listed for https only",
        _s3(endpoint="http://minio.storage.example:9000"),
        "endpoints[].requireHttps",
        policy={"endpoints": [{"hosts": ["minio.storage.example:9000"], "uses": ["s3"], "requireHttps": True}]},
    ),
    # host directories
    TenantCase("local path /etc", _local("/etc"), "localRoots"),
    TenantCase("local path /var/run", _local("/var/run"), "localRoots"),
    TenantCase("local path /var/lib/kubelet", _local("/var/lib/kubelet"), "localRoots"),
    TenantCase("local path /proc/self", _local("/proc/self"), "localRoots"),
    TenantCase("local path /root", _local("/root"), "localRoots"),
    TenantCase(
        "local path beside an allowed root",
        _local("/srv/payloads-evil"),
        "localRoots",
        policy={"localRoots": [{"path": "/srv/payloads"}]},
    ),
    TenantCase(
        "local root allowed for another namespace",
        _local("/srv/payloads/team-a"),
        "localRoots",
        policy={"localRoots": [{"path": "/srv/payloads", "namespaces": ["team-b"]}]},
    ),
    # starving the shared operator
    TenantCase("InProcess runner", {"runner": {"type": "InProcess"}}, "inProcessNamespaces"),
    TenantCase("integrity concurrency 256", {"integrity": {"concurrency": 256}}, "maxConcurrency"),
    TenantCase("sixteen shards", {"runner": {"shards": 16}}, "maxShards"),
    TenantCase(
        "InProcess allowed elsewhere only",
        {"runner": {"type": "InProcess"}},
        "inProcessNamespaces",
        policy={"inProcessNamespaces": ["team-b"]},
    ),
]


# --------------------------------------------------------------------- lifecycle across other roots
@dataclass(frozen=True)
class RootCase:
    """A lifecycle block on a bucket another resource uses: refused because a rule reaches the other's root."""

    name: str
    prefix: str
    tmp_prefixes: list[str]
    other_prefix: str


ROOTS = [
    RootCase("rule over another resource's whole root", "namespaces", ["orders/"], "namespaces/orders"),
    RootCase("rule above another resource's root", "", ["namespaces/"], "namespaces/orders"),
    RootCase("rule inside a resource rooted at the bucket", "team", ["tmp/"], ""),
    RootCase("rule on the other root's payload shard", "namespaces", ["orders/tmp/", "billing/"], "namespaces/billing"),
    RootCase("bucket-rooted rule over a sibling root", "", ["tmp/"], "tmp/x"),
]
