"""A tenant whose ServiceAccount has only the built-in `edit` role in its namespace (with the chart's aggregated
ExternalPayloadStorage rights) tries the attacks of tests/e2e/test_tenant_safety.py with its own credentials.

Everything is applied with the tenant's token, as the tenant would; the operator (running with its own
identity) must refuse each, name the reason, touch nothing that is not its own, and keep serving the tenant's
honest resource. The tenant also cannot forge the verdict itself: `edit` does not reach the status subresource.
"""

from __future__ import annotations

from typing import Any

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.hostile_http import HugeReply
from devkit.httpserver import local_http_server

from tests.e2e.conftest import ADMIN_TOKEN, apply, condition, eps_manifest, secret_manifest, wait_condition
from tests.support.tenant import can_i, edit_tenant


def test_a_tenant_with_only_edit_cannot_turn_the_operator(
    crd: Cluster, operator: object, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    tenant = edit_tenant(crd, kube_namespace)
    assert can_i(tenant, "create", "externalpayloadstorages.payloads.durable-workflow.io")
    assert not can_i(tenant, "patch", "externalpayloadstorages.payloads.durable-workflow.io", "--subresource=status")
    assert not can_i(tenant, "get", "secrets", "-n", "default"), "nothing outside its namespace"

    def resource(name: str, secret: str = "dw-admin", url: str = dw_server.url, **spec: Any) -> dict[str, Any]:
        manifest = eps_manifest(kube_namespace, name, dw_server, **spec)
        manifest["spec"]["server"] |= {"url": url, "tokenSecretRef": {"name": secret}, "namespaces": ["orders"]}
        return manifest

    squatted = {  # created first, so the operator would overwrite it when publishing `owned-policy`
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "owned-policy", "namespace": kube_namespace},
        "data": {"policy.json": "{}"},
    }
    with local_http_server(HugeReply) as hostile:
        apply(
            tenant,
            secret_manifest(kube_namespace, "dw-admin", {"token": ADMIN_TOKEN}),
            secret_manifest(kube_namespace, "db-creds", {"token": ADMIN_TOKEN}, consent=False),
            squatted,
            resource("honest"),
            resource("borrower", secret="db-creds"),
            resource("owned"),
            resource("flood", url=hostile),
        )
        wait_condition(crd, kube_namespace, "borrower", "PolicySynced", "False", "SecretConsentMissing")
        body = wait_condition(crd, kube_namespace, "owned", "PolicySynced", "False", "ObjectNotOwned")
        assert "owned-policy" in condition(body, "PolicySynced")["message"]
        wait_condition(crd, kube_namespace, "flood", "PolicySynced", "False", "ResponseTooLarge")
        wait_condition(crd, kube_namespace, "honest", "Ready", "True")
    left = crd.api("GET", f"/api/v1/namespaces/{kube_namespace}/configmaps/owned-policy")
    assert left["data"] == squatted["data"]
    assert "ownerReferences" not in left["metadata"]
