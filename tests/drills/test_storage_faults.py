"""Drill 2: the object store misbehaves while the operator keeps lifecycle rules or runs retention and integrity.

Every storage call goes through a fault proxy in front of a real storage server (moto S3 through
`s3.endpoint`, the GCS emulator through `gcs.endpoint`, Azurite through the connection string's
BlobEndpoint); the bucket is checked directly, bypassing proxy and operator. A storage fault must
never cost a foreign lifecycle rule or a stored object; it must show as a False condition (or a run
recorded as failed, never as clean), be retried without a hot loop, and be gone by itself once the
store answers again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.faultproxy import FaultProxy
from devkit.operator_process import OperatorProcess
from devkit.services import AzuriteEndpoint, GcsEndpoint, S3Endpoint
from devkit.values import SECRETS
from devkit.waiting import wait_for

from tests.drills.kube import apply, condition, eps, patch_spec, s3_secret, token_secret, wait_all
from tests.drills.leaks import assert_no_secrets, gather
from tests.drills.storage import (
    FOREIGN_RULES,
    PREFIX,
    S3_SLOWDOWN,
    Bucket,
    azure_connection_string,
    azure_container,
    foreign,
    gcs_bucket,
    owned_days,
    payload_key,
    put_rules,
    s3_bucket,
    seeded_foreign,
    spec_block,
)
from tests.e2e.conftest import secret_manifest
from tests.e2e.test_retention_e2e import play_kubelet, runner_kubeconfig

DEAD_URL = "http://127.0.0.1:9"  # nothing listens: a call that bypassed the proxy would fail loudly
LIFECYCLE = {"tmpPrefixes": ["tmp/"], "expirationDays": 10}


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
def storage_operator(operator_with: Callable[..., OperatorProcess]) -> OperatorProcess:
    """The operator; GCS without credentials takes anonymous credentials (emulator) and no env endpoint."""
    process = operator_with(STORAGE_EMULATOR_HOST=DEAD_URL)
    process.start()
    return process


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


@dataclass(frozen=True)
class RunFault:
    """A broken store under a retention run and an integrity run (separate resources and buckets)."""

    name: str
    provider: str
    install: Callable[[FaultProxy, str, str], object]  # (proxy, bucket name, run kind)
    result: str  # how the run under the fault ends: Failed or PartiallyFailed, never Succeeded


def _refuse_deletes_or_reads(proxy: FaultProxy, bucket: str, kind: str) -> object:
    """Listing works; retention's batch delete (POST ?delete) or integrity's object reads are refused."""
    slowdown = {"body": S3_SLOWDOWN, "content_type": "application/xml"}
    if kind == "retention":
        return proxy.status(503, method="POST", path_prefix=f"/{bucket}", query_contains="delete", **slowdown)
    return proxy.status(503, method="GET", path_prefix=f"/{bucket}/{PREFIX}/avro/", **slowdown)


RUN_FAULTS = [
    RunFault(
        "s3-down", "s3", lambda p, _b, _k: p.status(503, body=S3_SLOWDOWN, content_type="application/xml"), "Failed"
    ),
    RunFault("gcs-down", "gcs", lambda p, _b, _k: p.reset(), "Failed"),
    RunFault("azure-down", "azure", lambda p, _b, _k: p.status(500), "Failed"),
    RunFault("s3-refused", "s3", _refuse_deletes_or_reads, "PartiallyFailed"),
]
SCHEDULE = "* * * * *"


def seed_run_bucket(bucket: Bucket, server: EmulatedServer) -> tuple[list[str], list[str], list[str]]:
    """Referenced payloads (in histories), old orphans, and objects outside the payload prefix."""
    referenced, orphans = [], []
    for n in range(3):
        data = f"referenced payload {n} of {bucket.name} ".encode() * 50
        key = payload_key(data)
        bucket.put(key, data)
        envelope = server.reference_envelope(bucket.uri(key), data)
        server.add_workflow("orders", f"wf-{n}", input=envelope)
        referenced.append(key)
    for n in range(2):
        data = f"orphaned payload {n} of {bucket.name} ".encode() * 50
        key = payload_key(data)
        bucket.put(key, data)
        orphans.append(key)
    outside = ["logs/app.log", f"{PREFIX}/tmp/upload-1"]
    for key in outside:
        bucket.put(key, b"not a payload")
    return referenced, orphans, outside


def run_block(body: dict[str, object], kind: str) -> dict[str, Any]:
    status = body.get("status") or {}
    assert isinstance(status, dict)
    block = status.get(kind) or {}
    assert isinstance(block, dict)
    return block


def test_runs_under_storage_faults_fail_visibly_delete_nothing_and_the_next_run_succeeds(
    drill_cluster: Cluster,
    drill_namespace: str,
    storage_operator: OperatorProcess,
    dw_server: Callable[..., EmulatedServer],
    fault_proxy: Callable[[str], FaultProxy],
    moto_s3: S3Endpoint,
    gcs_emulator: GcsEndpoint,
    azurite: AzuriteEndpoint,
) -> None:
    upstream = {"s3": moto_s3.url, "gcs": gcs_emulator.url, "azure": azurite.url}
    make = {
        "s3": lambda: s3_bucket(moto_s3),
        "gcs": lambda: gcs_bucket(gcs_emulator),
        "azure": lambda: azure_container(azurite),
    }
    proxies = {f.name: fault_proxy(upstream[f.provider]) for f in RUN_FAULTS}
    connection_string = azure_connection_string(azurite, proxies["azure-down"].url)
    cases: dict[str, tuple[RunFault, str, Bucket, tuple[list[str], list[str], list[str]]]] = {}
    manifests = []
    # Every fault under an in-process retention run and an in-process integrity run, plus one integrity
    # run as a Kubernetes Job, whose pod (played by the drill: this cluster has no kubelet) meets the fault.
    plan = [(f, kind, "InProcess") for f in RUN_FAULTS for kind in ("retention", "integrity")]
    plan.append((RUN_FAULTS[0], "integrity", "Job"))
    for fault, kind, runner in plan:
        proxy = proxies[fault.name]
        name = f"{fault.name}-{kind[:3]}" + ("-job" if runner == "Job" else "")
        bucket = make[fault.provider]()
        # Orphan deletion and referenced integrity need a server whose histories show references.
        server = dw_server(["orders"], available_drivers=("s3", "gcs", "azure"), profile="references")
        cases[name] = (fault, kind, bucket, seed_run_bucket(bucket, server))
        fault.install(proxy, bucket.name, kind)
        block = spec_block(bucket, proxy.url, account_url=f"{proxy.url}/{azurite.account_name}")
        audit = {"mode": "Delete", "minAge": "1s"}
        work = (
            {"retention": {"schedule": SCHEDULE, "serverPasses": False, "orphanAudit": audit}}
            if kind == "retention"
            else {"integrity": {"schedule": SCHEDULE, "mode": "Both", "concurrency": 4}}
        )
        manifests.append(
            eps(
                drill_namespace,
                name,
                url=server.url,
                dw_namespaces=["orders"],
                prefix=PREFIX,
                runner={"type": runner},
                **block,
                **work,
            )
        )
    azure_secret = secret_manifest(drill_namespace, "dw-azure", {"connectionString": connection_string})
    apply(drill_cluster, token_secret(drill_namespace), s3_secret(drill_namespace), azure_secret, *manifests)

    kubelet = Kubelet(drill_cluster, drill_namespace)

    def results(want: Callable[[str, dict[str, Any]], bool]) -> dict[str, dict[str, Any]] | None:
        kubelet.play_new_jobs()
        items = list_eps(drill_cluster, drill_namespace)
        done = {n: b for n, b in items.items() if n in cases and want(n, run_block(b, cases[n][1]))}
        return done if len(done) == len(cases) else None

    # Under the fault: every run ends, recorded as failed (never as clean), and nothing is deleted.
    failed = wait_for(
        lambda: results(lambda _n, block: bool(block.get("lastResult"))), 240, interval=1, message="first runs"
    )
    for name, (fault, kind, bucket, (referenced, orphans, outside)) in cases.items():
        block = run_block(failed[name], kind)
        assert block["lastResult"]["result"] == fault.result, f"{name}: {block['lastResult']}"
        assert "lastSuccessfulTime" not in block, name
        kind_condition = condition(failed[name], CONDITIONS[kind])
        assert (kind_condition["status"], kind_condition["reason"]) == ("False", fault.result), name
        assert bucket.intact(referenced + orphans + outside) == [], f"{name}: objects deleted or changed"
        assert len(proxies[fault.name].requests.all()) < 400, f"{name}: storage hammered"

    for proxy in proxies.values():
        proxy.clear()
    succeeded = wait_for(
        lambda: results(lambda _n, block: (block.get("lastResult") or {}).get("result") == "Succeeded"),
        240,
        interval=1,
        message="the next scheduled runs succeed",
    )
    assert len(kubelet.played) >= 2, f"the Job run ran under the fault and after it: {kubelet.played}"
    for name, (fault, kind, bucket, (referenced, orphans, outside)) in cases.items():
        block = run_block(succeeded[name], kind)
        # newest first: one or more successes, then the faulty runs (a busy machine may fit in more than one
        # scheduled run before the fault is cleared, or after it, before this wait looks)
        history = [r["result"] for r in block["recentRuns"]]
        successes = next((i for i, result in enumerate(history) if result != "Succeeded"), len(history))
        assert successes >= 1, f"{name}: {history}"
        assert set(history[successes:]) == {fault.result}, f"{name}: the faulty runs, and nothing else: {history}"
        assert block["nextRunTime"].endswith(":00Z"), f"{name}: {block['nextRunTime']}"
        assert condition(succeeded[name], CONDITIONS[kind])["status"] == "True", name
        if kind == "retention":
            # On a busy machine more than one run may succeed before this wait sees them: the first one
            # deletes the orphans, any later one finds none left. The bucket is the proof either way.
            expected = len(orphans) if successes == 1 else 0
            assert block["lastResult"]["orphans"]["deleted"] == expected, f"{name}: {history} {block['lastResult']}"
            assert bucket.keys() == set(referenced + outside), f"{name}: exactly the orphans are gone"
        else:
            assert block["lastResult"]["checked"] == len(referenced + orphans), f"{name}: {block['lastResult']}"
            assert bucket.intact(referenced + orphans + outside) == [], name
        assert bucket.intact(referenced + outside) == [], f"{name}: a referenced or foreign object changed"

    storage_operator.assert_up()
    evidence = gather(drill_cluster, [drill_namespace], storage_operator.log)
    assert_no_secrets(evidence, [*SECRETS, connection_string, azurite.account_key])


CONDITIONS = {"retention": "RetentionSucceeded", "integrity": "IntegrityVerified"}


def list_eps(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    items = cluster.api(
        "GET", f"/apis/payloads.durable-workflow.io/v1alpha1/namespaces/{namespace}/externalpayloadstorages"
    )
    return {body["metadata"]["name"]: body for body in items["items"]}


class Kubelet:
    """Plays the kubelet for the run Jobs the operator creates (the test cluster runs no pods): each new
    Job's command runs once, as its pod would, with the runner ServiceAccount's rights."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.played: list[str] = []
        self._kubeconfig: Path | None = None

    def play_new_jobs(self) -> None:
        selector = "app.kubernetes.io/component=run"
        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs?labelSelector={selector}"
        for job in self.cluster.api("GET", path)["items"]:
            if job["metadata"]["name"] in self.played:
                continue
            if self._kubeconfig is None:
                self._kubeconfig = runner_kubeconfig(self.cluster, self.namespace)
            self.played.append(job["metadata"]["name"])
            play_kubelet(job, self._kubeconfig)
