"""spec.publish.restartDeployments on the real API server: a named Deployment's pod template gets the published
content hash once (a new hash rolls it again, the same hash leaves it alone), and a missing Deployment or one the
operator may not patch is a DeploymentRestartFailed error, never a crash."""

from __future__ import annotations

from typing import Any

import pytest
from devkit.cluster import Cluster

from payload_operator.reconcile.rollout import (
    HASH_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    RestartFailed,
    restart_on_change,
)
from tests.e2e.test_kube_client import _admin, _client


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "worker", "image": "worker:1", "envFrom": [{"secretRef": {"name": "payloads-server-env"}}]}
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


async def test_a_named_deployment_rolls_once_per_content_hash(
    kube_cluster: Cluster, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"/apis/apps/v1/namespaces/{kube_namespace}/deployments"
    kube_cluster.api("POST", path, deployment("dw-worker"))

    def template() -> tuple[int, dict[str, str]]:
        found = kube_cluster.api("GET", f"{path}/dw-worker")
        return found["metadata"]["generation"], found["spec"]["template"]["metadata"].get("annotations") or {}

    async with _admin(kube_cluster, monkeypatch) as kube:
        assert await restart_on_change(kube, kube_namespace, ["dw-worker"], "aaaa") == ["dw-worker"]
        generation, annotations = template()
        assert annotations[HASH_ANNOTATION] == "aaaa"
        assert RESTARTED_AT_ANNOTATION in annotations
        await restart_on_change(kube, kube_namespace, ["dw-worker"], "aaaa")
        assert template()[0] == generation, "the same hash: no new rollout"
        await restart_on_change(kube, kube_namespace, ["dw-worker"], "bbbb")
        assert template()[0] == generation + 1
        assert template()[1][HASH_ANNOTATION] == "bbbb"

        with pytest.raises(RestartFailed, match="not found"):
            await restart_on_change(kube, kube_namespace, ["dw-missing"], "bbbb")


async def test_without_the_admins_grant_the_restart_is_refused_with_a_reason(
    kube_cluster: Cluster, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube_cluster.api("POST", f"/apis/apps/v1/namespaces/{kube_namespace}/deployments", deployment("dw-server"))
    kube = _client(kube_cluster.user_kubeconfig("no-deployment-rights", []), monkeypatch)
    try:
        with pytest.raises(RestartFailed, match=r"rbac\.restartDeploymentsNamespaces") as refused:
            await restart_on_change(kube, kube_namespace, ["dw-server"], "cccc")
    finally:
        await kube.aclose()
    assert refused.value.reason == "DeploymentRestartFailed"
