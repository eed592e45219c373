"""Retention and integrity as real Jobs: pods of the operator image under the runner ServiceAccount, reporting
back through result ConfigMaps into status, Events and metrics. Local payloads (hostPath), moto and Ceph RGW."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer
from devkit.naming import unique_name
from devkit.node import NodeCluster
from devkit.services import S3Endpoint
from devkit.waiting import wait_for

from payload_operator.core.secrets import SecretValues
from payload_operator.tasks.integrity.quarantine import quarantine_key
from tests.integrity.conftest import Target, flip_byte, object_key, payload_values, read_all, write_with_sdk
from tests.node.conftest import Deploy, Release, needs_own_node, record_time, server_namespaces
from tests.node.helpers import event_messages, jobs, kube_time, metrics, run_pods, sample
from tests.retention.conftest import Payloads
from tests.ship.kube import can_i, service_account
from tests.support.operator_fixtures import get_eps, secret_manifest, wait_condition

pytestmark = pytest.mark.node

THRESHOLD = 1024  # tests/integrity's SDK writer offloads above this
RUNNER = "payload-operator-runner"
RUN_TIMEOUT = 240.0  # a Job: scheduling, a Python start in a pod, the work, the report, the operator's tick


def local_root(dw: EmulatedServer, name: str) -> Path:
    """A payload directory of its own under the emulator's root (pods mount it with hostPath)."""
    root = dw.local_root / name
    root.mkdir(mode=0o755)
    return root


def seed_local(dw: EmulatedServer, name: str, root: Path) -> Payloads:
    """Two referenced payloads, three old orphans and a young one, written through the server."""
    namespaces = server_namespaces(dw, name)
    for namespace in namespaces:
        policy = {"driver": "local", "enabled": True, "threshold_bytes": 4096, "config": {"uri": root.as_uri()}}
        dw.set_policy(namespace, policy)
    payloads = Payloads(dw, root, blob_size=8192)
    payloads.workflow(namespaces[0], "order-1")
    payloads.workflow(namespaces[1], "invoice-1", status="running")
    for _ in range(3):
        payloads.orphan(namespaces[0])
    payloads.orphan(namespaces[0], age=60)
    return payloads


def s3_target(node: NodeCluster, s3: S3Endpoint, name: str) -> Target:
    """A fresh bucket; the spec's endpoint is the pods' view of the server (reachable from the host too)."""
    bucket = unique_name(name)[:63]
    s3.client().create_bucket(Bucket=bucket)
    block = {"bucket": bucket, "region": s3.region, "endpoint": node.pod_url(s3.url), "forcePathStyle": True}
    credentials = SecretValues("test s3", {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key})
    sdk = {"url": s3.url, "access_key": s3.access_key, "secret_key": s3.secret_key, "region": s3.region}
    return Target("s3", bucket, block, sdk | {"bucket": bucket}, credentials, f"namespaces/{name}")


def s3_resource(target: Target, name: str, apps: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The spec fields of an S3 resource on `target` and its credentials Secret."""
    assert target.credentials is not None
    secret = secret_manifest(apps, f"{name}-s3", dict(target.credentials))
    spec = {
        "driver": "s3",
        "s3": target.block | {"credentialsSecretRef": {"name": f"{name}-s3"}},
        "prefix": target.prefix,
        "thresholdBytes": THRESHOLD,
    }
    return spec, secret


def seed_histories(dw: EmulatedServer, namespace: str, envelopes: list[dict[str, Any]]) -> None:
    for n, envelope in enumerate(envelopes):
        dw.add_workflow(namespace, f"wf-{n}", input=envelope)


def finished_pods(
    node: NodeCluster, apps: str, run_id: str, kind: str, phases: tuple[str, ...] = ("Succeeded", "Failed")
) -> list[dict[str, Any]]:
    """The run's pods, once every one of them has ended in one of `phases`."""
    found = run_pods(node.cluster, apps, run_id, kind)
    return found if found and all(p["status"].get("phase") in phases for p in found) else []


def operator_metric(release: Release, name: str, **labels: str) -> float | None:
    (pod,) = release.ready_pods()
    return sample(metrics(pod), name, **labels)


# --------------------------------------------------------------------- local driver
def test_local_retention_and_integrity_run_as_jobs_and_report_into_status_events_and_metrics(
    node: NodeCluster, release: Release, deploy: Deploy, dw: EmulatedServer, apps: str
) -> None:
    needs_own_node(node, "Job pods mount a payload directory of this host with hostPath")
    name = "local-runs"
    root = local_root(dw, name)
    payloads = seed_local(dw, name, root)
    before = payloads.existing()
    deploy(
        name,
        local={"path": str(root)},
        retention={"orphanAudit": {"minAge": "1h"}},
        integrity={"mode": "Both"},
    )
    body = wait_condition(node.cluster, apps, name, "RetentionSucceeded", "True", timeout=RUN_TIMEOUT)
    body = wait_condition(node.cluster, apps, name, "IntegrityVerified", "True", timeout=RUN_TIMEOUT)
    retention, integrity = body["status"]["retention"], body["status"]["integrity"]

    orphans = retention["lastResult"]["orphans"]
    assert (orphans["referenced"], orphans["young"], orphans["candidates"], orphans["deleted"]) == (2, 1, 3, 0)
    assert retention["lastResult"]["serverPasses"]["status"] == "ok"
    checked = integrity["lastResult"]
    assert (checked["missing"], checked["corrupt"], checked["ok"]) == (0, 0, checked["ok"])
    assert checked["ok"] >= 2
    assert payloads.existing() == before  # DryRun deletes nothing

    for kind, block in (("retention", retention), ("integrity", integrity)):
        run_id = block["lastResult"]["runId"]
        (pod,) = wait_for(
            lambda k=kind, r=run_id: finished_pods(node, apps, r, k, ("Succeeded",)), 30, message=f"{kind} pod"
        )
        assert pod["spec"]["serviceAccountName"] == RUNNER
        assert pod["spec"]["volumes"][1]["hostPath"]["path"] == str(root)
        (job,) = [
            j
            for j in jobs(node.cluster, apps, name, kind)
            if j["metadata"]["labels"].get("payloads.durable-workflow.io/run-id") == run_id
        ]
        condition_name = "RetentionSucceeded" if kind == "retention" else "IntegrityVerified"
        reported = next(c for c in body["status"]["conditions"] if c["type"] == condition_name)
        seconds = (kube_time(reported["lastTransitionTime"]) - kube_time(job["status"]["startTime"])).total_seconds()
        record_time(f"{kind} Job start to result in status (s)", seconds)
        assert event_messages(node.cluster, apps, name, "RunSucceeded")
        assert (
            operator_metric(release, "payload_operator_run_total", resource_name=name, kind=kind, result="Succeeded")
            == 1
        )


# --------------------------------------------------------------------- S3 (moto): shards, damage, quarantine
def test_two_shards_split_the_work_and_a_corrupt_object_is_named_and_quarantined(
    node: NodeCluster, release: Release, deploy: Deploy, dw: EmulatedServer, apps: str, moto_s3: S3Endpoint
) -> None:
    name = "s3-shards"
    target = s3_target(node, moto_s3, name)
    envelopes = write_with_sdk(sys.executable, target, payload_values([3000] * 8))
    namespace = server_namespaces(dw, name)[0]
    seed_histories(dw, namespace, envelopes)
    corrupt = object_key(target, envelopes[3])
    store = target.store()
    original = read_all(store, corrupt)
    flip_byte(store, corrupt)
    spec, secret = s3_resource(target, name, apps)
    integrity = {"mode": "Both", "onCorrupt": "Quarantine", "concurrency": 4}
    deploy(name, secret, integrity=integrity, runner={"shards": 2}, **spec)

    body = wait_condition(node.cluster, apps, name, "IntegrityVerified", "False", timeout=RUN_TIMEOUT)
    last = body["status"]["integrity"]["lastResult"]
    assert (last["result"], last["shards"], last["corrupt"], last["missing"]) == ("Failed", 2, 1, 0)
    # the two shards each took their part: every object was counted once, not once per shard
    assert last["ok"] + last["corrupt"] == len(envelopes)
    # two pods, one per shard, both Succeeded: the shard that found the damage reported it and exited 0, so
    # no Job shows Failed for damage the run already reported (status, Event, metric)
    pods = wait_for(
        lambda: finished_pods(node, apps, last["runId"], "integrity", phases=("Succeeded",)), 60, message="two pods"
    )
    commands = [p["spec"]["containers"][0]["command"] for p in pods]
    assert sorted(c[c.index("--shard") + 1] for c in commands) == ["0/2", "1/2"]
    assert "failedShards" not in last  # each shard's result came back

    (violation,) = event_messages(node.cluster, apps, name, "IntegrityViolation")
    assert corrupt in violation
    copy = read_all(store, quarantine_key(target.prefix, corrupt))
    assert copy != original  # the damaged bytes were set aside, the original object left in place
    assert read_all(store, corrupt) == copy
    assert operator_metric(release, "payload_operator_integrity_objects", resource_name=name, result="corrupt") == 1


# --------------------------------------------------------------------- S3 (Ceph RGW)
def test_retention_and_integrity_jobs_on_ceph_rgw(
    node: NodeCluster, deploy: Deploy, dw: EmulatedServer, apps: str, rgw_s3: S3Endpoint
) -> None:
    name = "rgw-runs"
    target = s3_target(node, rgw_s3, name)
    envelopes = write_with_sdk(sys.executable, target, payload_values([2000] * 4))
    seed_histories(dw, server_namespaces(dw, name)[0], envelopes)
    spec, secret = s3_resource(target, name, apps)
    deploy(name, secret, integrity={"mode": "Both"}, retention={"orphanAudit": {"minAge": "1h"}}, **spec)
    body = wait_condition(node.cluster, apps, name, "IntegrityVerified", "True", timeout=RUN_TIMEOUT)
    assert body["status"]["integrity"]["lastResult"]["ok"] >= len(envelopes)
    body = wait_condition(node.cluster, apps, name, "RetentionSucceeded", "True", timeout=RUN_TIMEOUT)
    assert body["status"]["retention"]["lastResult"]["orphans"]["deleted"] == 0


# --------------------------------------------------------------------- deadline, history
@pytest.fixture
def tarpit(node: NodeCluster) -> Iterator[str]:
    """An S3 endpoint on the pods' bridge that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind((node.gateway, 0))
        listener.listen(64)
        yield f"http://{node.gateway}:{listener.getsockname()[1]}"


def test_a_stuck_job_is_stopped_at_its_deadline_and_the_run_is_recorded_as_failed(
    node: NodeCluster, deploy: Deploy, apps: str, tarpit: str
) -> None:
    name = "stuck"
    secret = secret_manifest(apps, f"{name}-s3", {"accessKeyId": "stuck", "secretAccessKey": "stuck-secret"})
    s3 = {"bucket": "stuck", "endpoint": tarpit, "forcePathStyle": True, "credentialsSecretRef": {"name": f"{name}-s3"}}
    deploy(name, secret, driver="s3", s3=s3, integrity={"mode": "Inventory"}, runner={"activeDeadlineSeconds": 60})
    body = wait_condition(node.cluster, apps, name, "IntegrityVerified", "False", timeout=RUN_TIMEOUT)
    (job,) = jobs(node.cluster, apps, name, "integrity")
    failed = [c for c in job["status"].get("conditions", []) if c["type"] == "Failed"]
    assert failed[0]["reason"] == "DeadlineExceeded"
    message = next(c for c in body["status"]["conditions"] if c["type"] == "IntegrityVerified")["message"]
    assert f"Job {job['metadata']['name']} failed: DeadlineExceeded" in message
    assert body["status"]["integrity"]["recentRuns"][0]["result"] == "Failed"


def test_the_history_limit_prunes_old_jobs_and_result_configmaps(
    node: NodeCluster, deploy: Deploy, dw: EmulatedServer, apps: str
) -> None:
    needs_own_node(node, "Job pods mount a payload directory of this host with hostPath")
    name = "history"
    root = local_root(dw, name)
    seed_local(dw, name, root)
    deploy(name, local={"path": str(root)}, retention={"schedule": "* * * * *"}, runner={"historyLimit": 1})

    def two_runs() -> list[dict[str, Any]] | None:
        runs = (get_eps(node.cluster, apps, name).get("status") or {}).get("retention", {}).get("recentRuns") or []
        return runs if len(runs) >= 2 else None

    runs = wait_for(two_runs, 150, interval=1, message="two minutely retention runs")
    assert [r["result"] for r in runs[:2]] == ["Succeeded", "Succeeded"]
    newest = runs[0]["jobNames"]
    wait_for(
        lambda: [j["metadata"]["name"] for j in jobs(node.cluster, apps, name, "retention")] == newest,
        30,
        message="older Jobs pruned to historyLimit 1",
    )
    selector = "app.kubernetes.io/component=run-result,payloads.durable-workflow.io/resource=" + name
    leftover = node.cluster.api("GET", f"/api/v1/namespaces/{apps}/configmaps?labelSelector={selector}")["items"]
    assert leftover == []
    # a run a minute is load the later tests do without
    node.cluster.kubectl("delete", "eps", name, "-n", apps, "--timeout=60s")


# --------------------------------------------------------------------- the runner's rights
def test_the_runner_serviceaccount_may_do_what_a_run_needs_and_no_more(node: NodeCluster, apps: str) -> None:
    """The runs above succeeded under this account; here is what it is refused."""
    runner = service_account(apps, RUNNER)
    cluster = node.cluster
    needed = [("get", "externalpayloadstorages.payloads.durable-workflow.io"), ("get", "secrets"),
              ("create", "configmaps"), ("patch", "configmaps")]  # fmt: skip
    # no Jobs: a pod knows its own Job's uid from the downward API, and must not learn another run's
    refused = [("list", "secrets"), ("watch", "secrets"), ("get", "jobs.batch"), ("create", "jobs.batch"),
               ("delete", "configmaps"),
               ("create", "pods"), ("update", "externalpayloadstorages.payloads.durable-workflow.io"),
               ("patch", "externalpayloadstorages.payloads.durable-workflow.io")]  # fmt: skip
    assert [n for n in needed if not can_i(cluster, runner, *n, namespace=apps)] == []
    assert [r for r in refused if can_i(cluster, runner, *r, namespace=apps)] == []
    assert not can_i(cluster, runner, "get", "secrets", namespace="kube-system")
