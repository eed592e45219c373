"""Runner placement from the chart on the real node: `runner.nodeSelector`, `tolerations`, `affinity`,
`imagePullSecrets` and `resources` reach the Job pods, the pod lands on the labelled, tainted node, and a
selector no node matches leaves the run's pod unschedulable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer
from devkit.manifests import secret_manifest
from devkit.node import NodeCluster
from devkit.waiting import wait_for

from tests.node.conftest import Deploy, Release, chart_values, needs_own_node, wait_rollout
from tests.node.helpers import run_pods
from tests.node.test_02_job_runs import RUN_TIMEOUT, local_root, seed_local
from tests.ship.chart import upgrade
from tests.support.operator_fixtures import GROUP_PATH, apply, get_eps, wait_condition

pytestmark = pytest.mark.node

LABEL = "storage.example.com/near"
TAINT = {"key": "storage.example.com/dedicated", "value": "payloads", "effect": "NoSchedule"}
TOLERATION = {"key": TAINT["key"], "operator": "Equal", "value": TAINT["value"], "effect": "NoSchedule"}
AFFINITY = {
    "nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "preference": {"matchExpressions": [{"key": LABEL, "operator": "Exists"}]}}
        ]
    }
}
PULL_SECRET = "runner-registry"
RESOURCES = {"requests": {"cpu": "50m", "memory": "200Mi"}, "limits": {"memory": "320Mi"}}
MERGE = "application/merge-patch+json"


def patch_node(node: NodeCluster, body: dict[str, Any]) -> None:
    node.cluster.api("PATCH", f"/api/v1/nodes/{node.node_name}", body, content_type=MERGE)


@pytest.fixture
def placed_release(node: NodeCluster, release: Release, dw: EmulatedServer) -> Iterator[Release]:
    """The suite's release upgraded with runner placement values (node labelled and tainted for it); afterwards
    the taint and label are removed and the release goes back to its own values."""
    runner = release.values["runner"] | {
        "nodeSelector": {LABEL: "yes"},
        "tolerations": [TOLERATION],
        "affinity": AFFINITY,
        "imagePullSecrets": [{"name": PULL_SECRET}],
        "resources": RESOURCES,
    }
    upgrade(release.cluster, release.name, release.namespace, chart_values(node, dw, runner=runner))
    try:
        wait_rollout(release, 1, timeout=300)
        patch_node(node, {"metadata": {"labels": {LABEL: "yes"}}, "spec": {"taints": [TAINT]}})
        yield release
    finally:
        patch_node(node, {"metadata": {"labels": {LABEL: None}}, "spec": {"taints": None}})
        upgrade(release.cluster, release.name, release.namespace, release.values)
        wait_rollout(release, 1, timeout=300)


def scheduling(pod: dict[str, Any]) -> dict[str, Any]:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "PodScheduled"), {})


def test_job_pods_land_on_the_selected_tainted_node_with_the_charts_placement_and_resources(
    node: NodeCluster, placed_release: Release, deploy: Deploy, dw: EmulatedServer, apps: str
) -> None:
    needs_own_node(node, "it labels and taints the node, and Job pods mount a host directory")
    name = "placed"
    root = local_root(dw, name)
    seed_local(dw, name, root)
    pull_secret = secret_manifest(apps, PULL_SECRET, {".dockerconfigjson": '{"auths": {}}'})
    pull_secret["type"] = "kubernetes.io/dockerconfigjson"
    apply(node.cluster, pull_secret)
    deploy(name, local={"path": str(root)}, integrity={"schedule": "0 3 1 1 *", "mode": "Inventory"})

    body = wait_condition(node.cluster, apps, name, "IntegrityVerified", "True", timeout=RUN_TIMEOUT)
    run_id = body["status"]["integrity"]["lastResult"]["runId"]
    (pod,) = run_pods(node.cluster, apps, run_id, "integrity")
    spec = pod["spec"]
    assert spec["nodeName"] == node.node_name
    assert spec["nodeSelector"] == {LABEL: "yes"}
    assert TOLERATION in spec["tolerations"]  # without it the taint would have kept the pod off the node
    assert spec["affinity"] == AFFINITY
    assert spec["imagePullSecrets"] == [{"name": PULL_SECRET}]
    assert spec["containers"][0]["resources"] == RESOURCES

    # the node no longer carries the label: the next run's pod cannot be placed anywhere
    patch_node(node, {"metadata": {"labels": {LABEL: None}}})
    annotations = {"metadata": {"annotations": {"payloads.durable-workflow.io/run-now": "integrity"}}}
    path = f"{GROUP_PATH}/namespaces/{apps}/externalpayloadstorages/{name}"
    node.cluster.api("PATCH", path, annotations, content_type=MERGE)

    def unschedulable() -> dict[str, Any] | None:
        active = get_eps(node.cluster, apps, name)["status"]["integrity"].get("activeRun") or {}
        pods = run_pods(node.cluster, apps, active["id"], "integrity") if active.get("id") else []
        return next((p for p in pods if scheduling(p).get("reason") == "Unschedulable"), None)

    stuck = wait_for(unschedulable, RUN_TIMEOUT, message="the next run's pod reported Unschedulable")
    assert stuck is not None
    assert stuck["status"]["phase"] == "Pending"
    assert "didn't match" in scheduling(stuck)["message"]  # the selector, not a lack of room
    node.cluster.api("DELETE", path)  # its Jobs go with it (owner references)
