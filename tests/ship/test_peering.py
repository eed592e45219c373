"""replicas: 2 — two operators from the rendered Deployment command: one works, one stands by, then takes over."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.waiting import wait_for

from tests.conftest import delete_namespace
from tests.e2e.conftest import eps_manifest, secret_manifest, wait_condition
from tests.ship.chart import CRD_NAME, install, operator_container, render, uninstall
from tests.ship.kube import apply, delete_crds, wait_established
from tests.ship.operator_process import OperatorProcess, start_operator
from tests.support.operator_fixtures import ADMIN_TOKEN

RELEASE = "payload-operator"
PEERING_CRDS = ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")


def _handled(operator: OperatorProcess) -> int:
    return sum(1 for line in operator.log.splitlines() if "Handler 'reconcile' succeeded" in line)


def _working(operator: OperatorProcess) -> bool:
    """Kopf starts paused when peering, and logs each resume and pause: the last one tells."""
    events = [line for line in operator.log.splitlines() if "Resuming operations" in line or "Pausing" in line]
    return bool(events) and "Resuming operations" in events[-1]


def _peers(cluster: Cluster, namespace: str) -> dict[str, int]:
    """Pod name -> priority, as the peers announce themselves in the KopfPeering object."""
    body = cluster.api("GET", f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/{RELEASE}")
    return {pod: int(peer["priority"]) for pod, peer in (body.get("status") or {}).items() if peer}


def test_two_replicas_share_one_peering_and_fail_over(
    ship_cluster: Cluster, namespaces: Callable[[str], str], dw_server: EmulatedServer, tmp_path: Path
) -> None:
    release_ns, apps = namespaces("payload-system"), namespaces("apps")
    values = {"replicas": 2, "rbac": {"scope": "namespace"}, "watchNamespaces": [apps]}
    version = ship_cluster.api("GET", "/version")["gitVersion"]
    container = operator_container(render(values, kube_version=version, name=RELEASE, namespace=release_ns))
    install(ship_cluster, RELEASE, release_ns, values)
    operators: list[OperatorProcess] = []
    try:
        wait_established(ship_cluster, CRD_NAME, *PEERING_CRDS)
        peering = ship_cluster.api("GET", f"/apis/kopf.dev/v1/namespaces/{apps}/kopfpeerings/{RELEASE}")
        assert peering["metadata"]["name"] == RELEASE, "the post-install hook created the peering object"
        kubeconfig = ship_cluster.serviceaccount_kubeconfig(release_ns, RELEASE)
        pods = [f"{RELEASE}-{i}" for i in range(2)]
        operators = [start_operator(container, kubeconfig, tmp_path, pod=pod) for pod in pods]
        peers = wait_for(lambda: len(_peers(ship_cluster, apps)) == 2 and _peers(ship_cluster, apps), 30)
        assert len(set(peers.values())) == 2, f"each replica drew its own priority: {peers}"
        ranked = sorted(zip(pods, operators, strict=True), key=lambda pair: peers[pair[0]], reverse=True)
        active, standby = ranked[0][1], ranked[1][1]
        wait_for(lambda: _working(active) and not _working(standby), 30, message="the highest priority works")

        manifest = eps_manifest(apps, "payloads", dw_server, prefix="ship")
        apply(ship_cluster, [secret_manifest(apps, "dw-admin", {"token": ADMIN_TOKEN}), manifest])
        wait_condition(ship_cluster, apps, "payloads", "Ready", "True", timeout=60)
        assert _handled(active) >= 1
        assert _handled(standby) == 0, "the paused replica does nothing"

        active.stop()  # the pod goes away: it leaves the peering on its way out
        wait_for(lambda: _working(standby), 30, message="the standby resumes")
        ship_cluster.kubectl(
            "patch", "eps", "payloads", "-n", apps, "--type=merge", "-p", json.dumps({"spec": {"thresholdBytes": 8192}})
        )
        wait_condition(ship_cluster, apps, "payloads", "Ready", "True", timeout=60)
        wait_for(lambda: dw_server.policy("orders")["threshold_bytes"] == 8192, 30, message="the standby took over")
        assert _handled(standby) >= 1
        assert "Forbidden" not in active.log + standby.log, "peering rights are granted"
    finally:
        for operator in operators:
            operator.stop()
        delete_namespace(ship_cluster, apps)  # drops the finalizers nobody is left to remove
        uninstall(ship_cluster, RELEASE, release_ns)
        delete_crds(ship_cluster, CRD_NAME, *PEERING_CRDS)
