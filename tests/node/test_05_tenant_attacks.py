"""A tenant whose ServiceAccount has only `edit` in its namespace attacks the chart's operator pod on a real node.

With its own token the tenant points a resource at a Secret that never consented, squats the name of a
ConfigMap the operator would publish, and points `server.url` at a host answering 300 MiB (the chart's 512Mi
memory limit: an operator reading it whole is OOM-killed). The operator pod refuses each with its reason,
touches nothing it does not own, is never restarted, and keeps reconciling the honest resource.
"""

from __future__ import annotations

from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer
from devkit.hostile_http import HugeReply
from devkit.httpserver import local_http_server
from devkit.node import NodeCluster
from devkit.waiting import wait_for

from tests.node.conftest import Release, resource_manifest
from tests.support.operator_fixtures import ADMIN_TOKEN, apply, condition, patch_spec, secret_manifest, wait_condition
from tests.support.tenant import can_i, edit_tenant

pytestmark = pytest.mark.node


def _restarts(release: Release) -> dict[str, int]:
    return {
        pod["metadata"]["name"]: sum(s.get("restartCount", 0) for s in pod["status"].get("containerStatuses") or [])
        for pod in release.pods()
    }


def test_a_tenant_with_only_edit_cannot_turn_the_operator_pod(
    node: NodeCluster, release: Release, dw: EmulatedServer, apps: str
) -> None:
    cluster = node.cluster
    tenant = edit_tenant(cluster, apps)
    assert can_i(tenant, "create", "externalpayloadstorages.payloads.durable-workflow.io")
    assert not can_i(tenant, "patch", "externalpayloadstorages.payloads.durable-workflow.io", "--subresource=status")
    before = _restarts(release)

    def resource(name: str, **server: Any) -> dict[str, Any]:
        manifest = resource_manifest(node, dw, apps, name)
        manifest["spec"]["server"] |= server
        return manifest

    squatted = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "t-owned-policy", "namespace": apps},
        "data": {"policy.json": "{}"},
    }
    with local_http_server(HugeReply) as hostile:
        apply(
            tenant,
            secret_manifest(apps, "t-db-creds", {"token": ADMIN_TOKEN}, consent=False),
            squatted,
            resource("t-honest"),
            resource("t-borrower", tokenSecretRef={"name": "t-db-creds"}),
            resource("t-owned"),
            resource("t-flood", url=node.pod_url(hostile)),
        )
        wait_condition(cluster, apps, "t-borrower", "PolicySynced", "False", "SecretConsentMissing", timeout=120)
        body = wait_condition(cluster, apps, "t-owned", "PolicySynced", "False", "ObjectNotOwned", timeout=120)
        assert "t-owned-policy" in condition(body, "PolicySynced")["message"]
        wait_condition(cluster, apps, "t-flood", "PolicySynced", "False", "ResponseTooLarge", timeout=120)
        served = HugeReply.served
        wait_condition(cluster, apps, "t-honest", "Ready", "True", timeout=120)
        patch_spec(cluster, apps, "t-honest", {"thresholdBytes": 8192})  # still served while under attack
        wait_condition(cluster, apps, "t-honest", "Ready", "True", timeout=120)
        wait_for(lambda: HugeReply.served > served, 60, message="the flood retried (on backoff) and was cut again")

    assert _restarts(release) == before, "the operator pod was never restarted (no OOM kill)"
    left = cluster.api("GET", f"/api/v1/namespaces/{apps}/configmaps/t-owned-policy")
    assert left["data"] == squatted["data"]
    assert "ownerReferences" not in left["metadata"]
