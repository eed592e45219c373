"""The operator pod killed mid-run, the node's containerd restarted, two replicas with one killed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer
from devkit.node import NodeCluster
from devkit.waiting import wait_for

from tests.node.conftest import RELEASE, Deploy, Release, chart_values, needs_own_node, record_time, wait_rollout
from tests.node.helpers import jobs, logs, run_pods
from tests.node.test_02_job_runs import local_root, seed_local
from tests.ship.chart import upgrade
from tests.support.operator_fixtures import get_eps, wait_condition

pytestmark = pytest.mark.node

PEERING = "/apis/kopf.dev/v1/clusterkopfpeerings"


def kill(release: Release, pod: str) -> None:
    """Delete a pod with no grace period, as a node failure or `kubectl delete --force` would."""
    release.cluster.kubectl(
        "delete", "pod", "-n", release.namespace, pod, "--grace-period=0", "--force", "--wait=false"
    )


def test_an_operator_pod_killed_mid_run_and_a_containerd_restart_neither_double_nor_lose_the_run(
    node: NodeCluster, release: Release, deploy: Deploy, dw: EmulatedServer, apps: str
) -> None:
    needs_own_node(node, "restarts the node's containerd; Job pods mount a directory of this host")
    name = "disrupted"
    root = local_root(dw, name)
    seed_local(dw, name, root)
    (before,) = release.ready_pods()
    deploy(name, local={"path": str(root)}, retention={"orphanAudit": {"minAge": "1h"}})

    def active_run() -> dict[str, Any] | None:
        retention = (get_eps(node.cluster, apps, name).get("status") or {}).get("retention") or {}
        run: dict[str, Any] | None = retention.get("activeRun")
        return run

    active = wait_for(active_run, 60, interval=0.2, message="the retention run started")
    kill(release, before["metadata"]["name"])
    node.restart_containerd()
    wait_for(
        lambda: [p for p in release.ready_pods() if p["metadata"]["name"] != before["metadata"]["name"]],
        180,
        message="a new operator pod Ready",
    )
    body = wait_condition(node.cluster, apps, name, "RetentionSucceeded", "True", timeout=240)
    retention = body["status"]["retention"]
    assert retention["lastResult"]["runId"] == active["id"], "the run was lost"
    assert [r["jobNames"] for r in retention["recentRuns"]] == [active["jobNames"]], "the run was doubled"
    assert [j["metadata"]["name"] for j in jobs(node.cluster, apps, name, "retention")] == active["jobNames"]
    assert len(run_pods(node.cluster, apps, active["id"], "retention")) == 1


def _peers(release: Release) -> dict[str, Any]:
    """Kopf's peering record: peer id (the pod name, from POD_ID) -> its priority and liveness."""
    items = release.cluster.api("GET", PEERING)["items"]
    peers: dict[str, Any] = {}
    for item in items:
        peers |= {k: v for k, v in (item.get("status") or {}).items() if isinstance(v, dict)}
    return peers


def _two_replicas(node: NodeCluster, release: Release, dw: EmulatedServer) -> tuple[set[str], str, str]:
    """Scale the release to two replicas: (both pod names, the active one by peering priority, the standby)."""
    upgrade(release.cluster, RELEASE, release.namespace, chart_values(node, dw, replicas=2))
    wait_rollout(release, 2)
    names = {p["metadata"]["name"] for p in release.pods()}
    peers = wait_for(lambda: (p := _peers(release)) and names <= set(p) and p, 60, message="both pods in peering")
    active = max(names, key=lambda n: int(peers[n].get("priority", 0)))
    (standby,) = names - {active}
    return names, active, standby


def test_two_replicas_one_works_and_the_other_takes_over_when_it_is_killed(
    node: NodeCluster, release: Release, deploy: Deploy, dw: EmulatedServer, apps: str
) -> None:
    names, active, standby = _two_replicas(node, release, dw)
    deploy("before-takeover")
    wait_condition(node.cluster, apps, "before-takeover", "Ready", "True", timeout=60)
    assert "before-takeover" not in logs(release.cluster, release.namespace, standby), "the standby worked too"

    kill(release, active)
    t0 = time.monotonic()
    deploy("after-takeover")
    wait_condition(node.cluster, apps, "after-takeover", "Ready", "True", timeout=180)
    record_time("takeover after killing the active replica (s)", time.monotonic() - t0)
    assert "after-takeover" in logs(release.cluster, release.namespace, standby) or any(
        "after-takeover" in logs(release.cluster, release.namespace, p["metadata"]["name"])
        for p in release.pods()
        if p["metadata"]["name"] not in names
    )
    upgrade(release.cluster, RELEASE, release.namespace, chart_values(node, dw))
    wait_rollout(release, 1)


def test_two_replicas_the_active_process_sigkilled_the_work_goes_on(
    node: NodeCluster, release: Release, deploy: Deploy, dw: EmulatedServer, apps: str
) -> None:
    """No clean exit: the killed process leaves its peering record behind (Kopf honors a peer for its lifetime,
    60 s), and the kubelet restarts the container in the same pod, under the same peer identity."""
    needs_own_node(node, "kills a container through the node's containerd")
    names, active, standby = _two_replicas(node, release, dw)
    deploy("before-sigkill")
    wait_condition(node.cluster, apps, "before-sigkill", "Ready", "True", timeout=60)
    (pod,) = [p for p in release.pods() if p["metadata"]["name"] == active]
    (container,) = pod["status"]["containerStatuses"]

    node.kill_container(container["containerID"])
    t0 = time.monotonic()
    deploy("after-sigkill")
    wait_condition(node.cluster, apps, "after-sigkill", "Ready", "True", timeout=180)
    record_time("takeover after SIGKILL of the active replica's process (s)", time.monotonic() - t0)

    def restarted() -> bool:
        (now,) = [p for p in release.pods() if p["metadata"]["name"] == active]
        return int(now["status"]["containerStatuses"][0]["restartCount"]) > int(container["restartCount"])

    wait_for(restarted, 120, message="the kubelet restarted the killed container")
    worked = [name for name in names if "after-sigkill" in logs(release.cluster, release.namespace, name)]
    assert worked, "neither replica handled the resource made after the kill"
    print(f"\nafter SIGKILL of {active}: handled by {'the restarted container' if worked == [active] else standby}")
    upgrade(release.cluster, RELEASE, release.namespace, chart_values(node, dw))
    wait_rollout(release, 1)
