"""Drill 2: the object store misbehaves while the operator keeps lifecycle rules or runs retention and integrity.

Every storage call goes through a fault proxy in front of a real storage server (moto S3 through
`s3.endpoint`, the GCS emulator through `gcs.endpoint`, Azurite through the connection string's
BlobEndpoint); the bucket is checked directly, bypassing proxy and operator. A storage fault must
never cost a foreign lifecycle rule or a stored object; it must show as a False condition (or a run
recorded as failed, never as clean), be retried without a hot loop, and be gone by itself once the
store answers again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.drills.kube import apply, condition, eps, patch_spec, s3_secret, token_secret, wait_all
from tests.drills.leaks import assert_no_secrets, gather
from tests.drills.operator import OperatorProcess
from tests.drills.storage import (
    FOREIGN_RULES,
    PREFIX,
    S3_SLOWDOWN,
    Bucket,
    foreign,
    gcs_bucket,
    owned_days,
    payload_key,
    put_rules,
    s3_bucket,
    seeded_foreign,
    spec_block,
)
from tests.drills.values import SECRETS
from tests.dw_emulator import EmulatedServer
from tests.faultproxy import FaultProxy
from tests.support.cluster import Cluster
from tests.support.services import GcsEndpoint, S3Endpoint
from tests.support.waiting import wait_for

DEAD_URL = "http://127.0.0.1:9"  # nothing listens: a call that bypassed the proxy would fail loudly
LIFECYCLE = {"tmpPrefixes": ["tmp/"], "expirationDays": 10}
RETRY_WINDOW = 10.0


@dataclass(frozen=True)
class LifecycleFault:
    name: str
    provider: str
    install: Callable[[FaultProxy], object]
    reason: str | None  # None: the write lands and only its answer is lost, so the sync may well succeed


LIFECYCLE_FAULTS = [
    LifecycleFault(
        "s3-slowdown",
        "s3",
        lambda p: p.status(503, body=S3_SLOWDOWN, content_type="application/xml", query_contains="lifecycle"),
        "StorageThrottled",
    ),
    LifecycleFault("s3-internal-error", "s3", lambda p: p.status(500, query_contains="lifecycle"), "StorageError"),
    LifecycleFault(
        "s3-write-reset", "s3", lambda p: p.reset(method="PUT", query_contains="lifecycle"), "StorageUnreachable"
    ),
    LifecycleFault(
        "s3-read-truncated", "s3", lambda p: p.truncate(method="GET", query_contains="lifecycle"), "StorageUnreachable"
    ),
    LifecycleFault("s3-answer-lost", "s3", lambda p: p.truncate(method="PUT", query_contains="lifecycle"), None),
    LifecycleFault("gcs-throttled", "gcs", lambda p: p.status(429, retry_after=1), "StorageThrottled"),
    LifecycleFault("gcs-write-reset", "gcs", lambda p: p.reset(method="PATCH"), "StorageUnreachable"),
    LifecycleFault("gcs-read-truncated", "gcs", lambda p: p.truncate(method="GET"), "StorageUnreachable"),
    LifecycleFault("gcs-answer-lost", "gcs", lambda p: p.truncate(method="PATCH"), None),
]


@pytest.fixture
def storage_operator(operator_with: Callable[..., OperatorProcess]) -> Iterator[OperatorProcess]:
    """The operator; GCS without credentials takes anonymous credentials (emulator) and no env endpoint."""
    process = operator_with(STORAGE_EMULATOR_HOST=DEAD_URL)
    process.start()
    yield process


def seed(bucket: Bucket) -> list[str]:
    """Foreign rules and a few objects: a payload, a temporary object, someone else's log."""
    put_rules(bucket, FOREIGN_RULES[bucket.provider])
    keys = [payload_key(b"payload-" + bucket.name.encode()), f"{PREFIX}/tmp/upload-1", "logs/app.log"]
    for key in keys:
        bucket.put(key, f"bytes of {key}".encode())
    return keys


def test_lifecycle_sync_under_storage_faults_keeps_foreign_rules_and_objects(
    drill_cluster: Cluster,
    drill_namespace: str,
    storage_operator: OperatorProcess,
    dw_server: Callable[..., EmulatedServer],
    fault_proxy: Callable[[str], FaultProxy],
    moto_s3: S3Endpoint,
    gcs_emulator: GcsEndpoint,
) -> None:
    buckets = {f.name: s3_bucket(moto_s3) if f.provider == "s3" else gcs_bucket(gcs_emulator) for f in LIFECYCLE_FAULTS}
    objects = {name: seed(bucket) for name, bucket in buckets.items()}
    proxies = {f.name: fault_proxy(moto_s3.url if f.provider == "s3" else gcs_emulator.url) for f in LIFECYCLE_FAULTS}
    servers = {f.name: dw_server(["orders"], available_drivers=("s3", "gcs")) for f in LIFECYCLE_FAULTS}
    manifests = [
        eps(
            drill_namespace,
            f.name,
            url=servers[f.name].url,
            dw_namespaces=["orders"],
            prefix=PREFIX,
            lifecycle=LIFECYCLE,
            **spec_block(buckets[f.name], proxies[f.name].url),
        )
        for f in LIFECYCLE_FAULTS
    ]
    apply(drill_cluster, token_secret(drill_namespace), s3_secret(drill_namespace), *manifests)
    wait_all(drill_cluster, drill_namespace, buckets, "LifecycleSynced", "True", timeout=90)
    for name, bucket in buckets.items():
        assert (foreign(bucket), owned_days(bucket)) == (seeded_foreign(bucket.provider), [10]), name

    started = {name: len(proxy.requests.all()) for name, proxy in proxies.items()}
    for fault in LIFECYCLE_FAULTS:
        fault.install(proxies[fault.name])
        patch_spec(drill_cluster, drill_namespace, fault.name, {"lifecycle": {"expirationDays": 12}})
    for fault in LIFECYCLE_FAULTS:
        bucket = buckets[fault.name]
        if fault.reason is None:  # the write lands; its answer does not
            assert proxies[fault.name].requests.wait_for(1, timeout=60, fault="truncate"), fault.name
            continue
        body = wait_all(drill_cluster, drill_namespace, [fault.name], "LifecycleSynced", "False", fault.reason, 60)
        assert condition(body[fault.name], "Ready")["status"] == "False", fault.name
        assert foreign(bucket) == seeded_foreign(bucket.provider), f"{fault.name}: a foreign rule changed"
        assert owned_days(bucket) == [10], f"{fault.name}: our rule changed through the fault"
        assert bucket.intact(objects[fault.name]) == [], f"{fault.name}: objects touched"

    # Retried, but not in a hot loop: the request rate through each proxy stays low.
    marks = {name: (len(proxy.requests.all()), proxy.requests.all()[-1].arrived) for name, proxy in proxies.items()}
    wait_for(lambda: all(len(p.requests.all()) > marks[n][0] for n, p in proxies.items()), 30, interval=0.5)
    for name, proxy in proxies.items():
        window = proxy.requests.all()[marks[name][0] :]
        span = max(window[-1].arrived - marks[name][1], 1.0)
        assert len(window) <= 15 * (span + 2), f"{name}: {len(window)} storage requests in {span:.1f}s"

    for proxy in proxies.values():
        proxy.clear()
    wait_all(drill_cluster, drill_namespace, buckets, "LifecycleSynced", "True", timeout=90)
    wait_all(drill_cluster, drill_namespace, buckets, "Ready", "True", timeout=30)
    for name, bucket in buckets.items():
        assert foreign(bucket) == seeded_foreign(bucket.provider), f"{name}: a foreign rule changed"
        assert owned_days(bucket) == [12], f"{name}: {owned_days(bucket)}"
        assert bucket.intact(objects[name]) == [], f"{name}: objects touched"
        deletes = proxies[name].requests.find(method="DELETE")
        assert not deletes, f"{name}: {[d.target for d in deletes]}"
        assert len(proxies[name].requests.all()) > started[name]

    storage_operator.assert_up()
    assert_no_secrets(gather(drill_cluster, [drill_namespace], storage_operator.log), SECRETS)
