"""Drill: the operator's ServiceAccount token is rotated under it and the old one revoked; it keeps working.

Bound tokens expire (about an hour) and the kubelet rewrites the mounted file before that. Here the operator
runs as a process whose kubeconfig names the token by `tokenFile`; the drill replaces the file with a new
token and revokes the old one, then edits the resource: Kopf's own calls (status) and the operator's client
(the published policy ConfigMap) must both go on, with neither token in the log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.operator_process import OperatorProcess
from devkit.waiting import wait_for

from tests.drills.kube import apply, eps, patch_spec, token_secret, wait_all
from tests.support.sa_tokens import issue_token, revoke, token_file_kubeconfig, write_token

ACCOUNT = "payload-operator"


@pytest.fixture
def operator_account(drill_cluster: Cluster, drill_namespace: str) -> Iterator[str]:
    """A ServiceAccount bound to cluster-admin (what the chart grants is tests/ship's business)."""
    binding = f"token-rotation-{drill_namespace}"
    drill_cluster.api(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": drill_namespace}],
        },
    )
    yield ACCOUNT
    drill_cluster.api("DELETE", f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{binding}")


def test_a_rotated_and_revoked_token_does_not_stop_the_operator(
    drill_cluster: Cluster,
    drill_namespace: str,
    operator_account: str,
    dw_server: Callable[..., EmulatedServer],
    tmp_path: Path,
) -> None:
    first_secret, first = issue_token(drill_cluster, drill_namespace, operator_account)
    token_file = tmp_path / "token"
    write_token(token_file, first)
    kubeconfig = token_file_kubeconfig(drill_cluster, "rotating-operator", token_file)
    operator = OperatorProcess(kubeconfig, tmp_path)
    try:
        operator.start()
        server = dw_server()
        apply(
            drill_cluster,
            token_secret(drill_namespace),
            eps(drill_namespace, "payloads", url=server.url, local_root=server.local_root),
        )
        wait_all(drill_cluster, drill_namespace, ["payloads"], "Ready", "True", timeout=90)

        _, second = issue_token(drill_cluster, drill_namespace, operator_account)
        write_token(token_file, second)
        revoke(drill_cluster, drill_namespace, first_secret, first)

        patch_spec(drill_cluster, drill_namespace, "payloads", {"thresholdBytes": 8192})
        wait_all(drill_cluster, drill_namespace, ["payloads"], "Ready", "True", timeout=90)
        policy = f"/api/v1/namespaces/{drill_namespace}/configmaps/payloads-policy"
        wait_for(
            lambda: "8192" in json.dumps(json.loads(drill_cluster.api("GET", policy)["data"]["policy.json"])),
            90,
            message="the published policy follows the edit, written with the new token",
        )
        assert (server.policy("orders") or {}).get("threshold_bytes") == 8192, "the server policy too"
        operator.assert_up()
    finally:
        operator.stop()
    log = operator.log
    assert first not in log, "no token in the operator's log"
    assert second not in log
