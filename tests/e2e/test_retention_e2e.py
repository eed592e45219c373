"""Scheduled retention end to end: the operator under Kopf on the real API server, the server emulator,
payload objects in a local directory.

The test cluster runs no pods, so a Job never executes by itself: the tests check the Jobs the operator
creates and then play the kubelet, running each Job's own command line (same argv) with a kubeconfig
of the runner ServiceAccount, whose Role grants only what the chart grants it.

(Kept beside the other operator e2e tests so the session's single operator is shared: a second
KopfRunner over the same namespaces would double every run.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer, Tokens
from devkit.waiting import wait_for

from tests.e2e.conftest import (
    ADMIN_TOKEN,
    apply,
    condition,
    eps_manifest,
    get_eps,
    secret_manifest,
    wait_condition,
)
from tests.retention.conftest import Payloads

Deploy = Callable[..., dict[str, Any]]
RUNNER = "payload-operator-runner"
THRESHOLD = 4096  # thresholdBytes of eps_manifest
AUDIT = {"orphanAudit": {"minAge": "1h"}}
RUNNER_RULES = [  # the chart's runner Role (charts/payload-operator/templates/_helpers.tpl, runnerRules)
    {"apiGroups": ["payloads.durable-workflow.io"], "resources": ["externalpayloadstorages"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch"]},
]


@pytest.fixture
def dw_server(dw_server_with_references: EmulatedServer) -> EmulatedServer:
    """These runs judge orphans against the references histories show: a server that presents them (the
    captured Gen A server makes the audit refuse, shown by the inlining test below)."""
    return dw_server_with_references


def seeded(server: EmulatedServer) -> Payloads:
    """Referenced payloads in both namespaces, three old orphans and a young one; policies as the operator sets them."""
    for namespace in ("orders", "billing"):
        policy = {"driver": "local", "enabled": True, "threshold_bytes": THRESHOLD}
        server.set_policy(namespace, policy | {"config": {"uri": server.local_root.as_uri()}})
    payloads = Payloads(server, server.local_root, blob_size=2 * THRESHOLD)
    payloads.workflow("orders", "order-1")
    payloads.workflow("billing", "invoice-1", status="running")
    for _ in range(3):
        payloads.orphan()
    payloads.orphan(age=60)
    return payloads


def jobs_of(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    selector = "payloads.durable-workflow.io/run-kind=retention"
    found = cluster.api("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs?labelSelector={selector}")["items"]
    return sorted(found, key=lambda job: job["metadata"]["name"])


def results_of(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    selector = "app.kubernetes.io/component=run-result"
    items: list[dict[str, Any]] = cluster.api(
        "GET", f"/api/v1/namespaces/{namespace}/configmaps?labelSelector={selector}"
    )["items"]
    return items


def runner_kubeconfig(cluster: Cluster, namespace: str) -> Path:
    """The runner ServiceAccount with the chart's Role, as a kubeconfig."""
    cluster.ensure_serviceaccount(namespace, RUNNER)
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces"
    cluster.api("POST", f"{rbac}/{namespace}/roles", {"metadata": {"name": RUNNER}, "rules": RUNNER_RULES})
    binding = {
        "metadata": {"name": RUNNER},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RUNNER},
        "subjects": [{"kind": "ServiceAccount", "name": RUNNER, "namespace": namespace}],
    }
    cluster.api("POST", f"{rbac}/{namespace}/rolebindings", binding)
    return cluster.serviceaccount_kubeconfig(namespace, RUNNER)


def pod_environment(job: dict[str, Any]) -> dict[str, str]:
    """The container's variables as the kubelet sets them: values, and labels the Job controller puts on its
    pods (the Job's uid) through the downward API."""
    uid = job["metadata"]["uid"]
    pod_labels = {"controller-uid": uid, "batch.kubernetes.io/controller-uid": uid}
    env = {}
    for item in job["spec"]["template"]["spec"]["containers"][0].get("env") or []:
        if "valueFrom" in item:
            label = item["valueFrom"]["fieldRef"]["fieldPath"].split("'")[1]
            env[item["name"]] = pod_labels.get(label, "")
        else:  # the API server leaves an empty value out
            env[item["name"]] = item.get("value", "")
    return env


def play_kubelet(job: dict[str, Any], kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    """Run the Job's container command as its pod would (this Python instead of the image's entry point)."""
    (container,) = job["spec"]["template"]["spec"]["containers"]
    program, *args = container["command"]
    assert program == "payload-operator"
    inherited = {k: v for k, v in os.environ.items() if k != "DW_TOKEN"}
    env = inherited | pod_environment(job) | {"KUBECONFIG": str(kubeconfig), "TMPDIR": tempfile.gettempdir()}
    return subprocess.run(
        [sys.executable, "-m", "payload_operator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_job_runs_are_created_played_and_collected_into_status(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    payloads = seeded(dw_server)
    before = payloads.existing()
    deploy(retention=AUDIT, runner={"type": "Job", "shards": 2, "activeDeadlineSeconds": 900})
    jobs = wait_for(lambda: len(jobs_of(crd, kube_namespace)) == 2 and jobs_of(crd, kube_namespace), timeout=30)
    # the Jobs exist a moment before the status patch that records them
    body = wait_for(
        lambda: (found := get_eps(crd, kube_namespace, "payloads"))["status"]["retention"]["activeRun"] and found,
        timeout=60,
        message="the run recorded as active",
    )
    active = body["status"]["retention"]["activeRun"]
    names = [job["metadata"]["name"] for job in jobs]
    assert active["jobNames"] == names
    assert (active["runner"], active["shards"]) == ("Job", 2)
    for index, job in enumerate(jobs):
        assert job["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]
        assert job["spec"]["backoffLimit"] == 0
        assert job["spec"]["activeDeadlineSeconds"] == 900
        pod = job["spec"]["template"]["spec"]
        assert (pod["restartPolicy"], pod["serviceAccountName"]) == ("Never", RUNNER)
        argv = pod["containers"][0]["command"]
        assert argv[-6:] == ["--shard", f"{index}/2", "--run-id", active["id"], "--report", "configmap"]

    kubeconfig = runner_kubeconfig(crd, kube_namespace)
    for job in jobs:
        done = play_kubelet(job, kubeconfig)
        assert done.returncode == 0, done.stdout + done.stderr

    body = wait_condition(crd, kube_namespace, "payloads", "RetentionSucceeded", "True", reason="Succeeded")
    retention = body["status"]["retention"]
    assert "activeRun" not in retention
    last = retention["lastResult"]
    assert (last["runId"], last["result"], last["shards"], last["jobNames"]) == (active["id"], "Succeeded", 2, names)
    assert last["serverPasses"]["status"] == "ok"
    orphans = last["orphans"]
    assert (orphans["referenced"], orphans["young"], orphans["candidates"], orphans["deleted"]) == (2, 1, 3, 0)
    assert orphans["candidateBytes"] == sum(p.stat().st_size for p in payloads.orphans)
    assert retention["recentRuns"][0]["jobNames"] == names
    assert retention["lastSuccessfulTime"] == retention["lastRunTime"]
    assert retention["effectiveSchedule"] == "0 0 * * *"
    assert retention["nextRunTime"].endswith("T00:00:00Z")
    wait_for(lambda: not results_of(crd, kube_namespace), timeout=60, message="result ConfigMaps left behind")
    assert payloads.existing() == before  # DryRun


def test_a_failed_job_fails_the_run_with_its_reason(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    seeded(dw_server)
    deploy(retention=AUDIT)
    (job,) = wait_for(lambda: jobs_of(crd, kube_namespace), timeout=30)
    name = job["metadata"]["name"]
    failed = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "too long"}
    crd.api(
        "PATCH",
        f"/apis/batch/v1/namespaces/{kube_namespace}/jobs/{name}/status",
        {"status": {"conditions": [failed], "failed": 1}},
        content_type="application/merge-patch+json",
    )
    body = wait_condition(crd, kube_namespace, "payloads", "RetentionSucceeded", "False", reason="Failed")
    assert condition(body, "RetentionSucceeded")["message"] == f"Job {name} failed: DeadlineExceeded"
    assert body["status"]["retention"]["recentRuns"][0]["result"] == "Failed"


def test_an_in_process_delete_audit_removes_old_orphans_only(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    payloads = seeded(dw_server)
    deploy(retention={"orphanAudit": {"mode": "Delete", "minAge": "1h"}}, runner={"type": "InProcess"})
    body = wait_condition(crd, kube_namespace, "payloads", "RetentionSucceeded", "True", timeout=60)
    orphans = body["status"]["retention"]["lastResult"]["orphans"]
    assert (orphans["deleted"], orphans["deletion"]) == (3, "done")
    assert payloads.existing() == set(payloads.referenced) | set(payloads.young)
    assert body["status"]["retention"]["recentRuns"][0]["jobNames"] == []


def test_an_inlining_server_gets_no_orphan_deleted_and_the_reason_is_shown(
    operator: Any, crd: Cluster, kube_namespace: str, tmp_path: Path
) -> None:
    root = tmp_path / "inline-payloads"
    root.mkdir()
    tokens = Tokens(admin=ADMIN_TOKEN, operator="op-token", worker="wk-token")
    with EmulatedServer(
        generation="A",
        tokens=tokens,
        namespaces=["orders", "billing"],
        local_root=root,
        profile="references",  # discovery advertises references; only the walk shows payloads inline
        inline_payloads=True,
    ) as server:
        payloads = seeded(server)
        before = payloads.existing()
        manifest = eps_manifest(
            kube_namespace,
            "payloads",
            server,
            retention={"orphanAudit": {"mode": "Delete", "minAge": "1h"}},
            runner={"type": "InProcess"},
        )
        apply(crd, secret_manifest(kube_namespace, "dw-admin", {"token": ADMIN_TOKEN}), manifest)
        body = wait_condition(crd, kube_namespace, "payloads", "RetentionSucceeded", "False", "PartiallyFailed", 60)
        message = condition(body, "RetentionSucceeded")["message"]
        assert "orphan audit skipped: references not observable: namespace orders returns" in message
        orphans = body["status"]["retention"]["lastResult"]["orphans"]
        assert (orphans["status"], orphans["candidates"], orphans["deleted"]) == ("skipped", 0, 0)
        assert payloads.existing() == before


@pytest.mark.slow
def test_a_due_run_is_skipped_while_one_is_active_and_old_jobs_are_pruned(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    seeded(dw_server)
    deploy(retention={"schedule": "* * * * *"} | AUDIT, runner={"historyLimit": 1})
    (first,) = wait_for(lambda: jobs_of(crd, kube_namespace), timeout=30)
    skipped = wait_for(
        lambda: get_eps(crd, kube_namespace, "payloads")["status"]["retention"].get("lastSkippedTime"),
        timeout=150,  # due at the next minute boundary, then one reconcile of a busy operator
        message="the due run was never recorded as skipped",
    )
    assert [j["metadata"]["name"] for j in jobs_of(crd, kube_namespace)] == [first["metadata"]["name"]]
    kubeconfig = runner_kubeconfig(crd, kube_namespace)
    assert play_kubelet(first, kubeconfig).returncode == 0
    second = wait_for(
        lambda: [j for j in jobs_of(crd, kube_namespace) if j["metadata"]["name"] != first["metadata"]["name"]],
        timeout=150,
        message="no run after the skipped one",
    )[0]
    assert second["metadata"]["creationTimestamp"] > skipped
    assert play_kubelet(second, kubeconfig).returncode == 0
    wait_for(
        lambda: [j["metadata"]["name"] for j in jobs_of(crd, kube_namespace)] == [second["metadata"]["name"]],
        timeout=30,
        message="the first run's Job was not pruned to historyLimit 1",
    )
    wait_for(
        lambda: (
            [r["result"] for r in get_eps(crd, kube_namespace, "payloads")["status"]["retention"]["recentRuns"][:2]]
            == ["Succeeded", "Succeeded"]
        ),
        timeout=60,
        message="both runs recorded as succeeded",
    )
