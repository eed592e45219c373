"""The release's life: RBAC with the operator's real token, `helm upgrade` to a new image and a changed CRD,
`helm uninstall`, and a namespace-scoped release. Runs last (test_90): it uninstalls the suite's release."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from devkit.cluster import ApiError, Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.node import NodeCluster
from devkit.waiting import wait_for

from tests.node.conftest import APPS, RELEASE, Release, chart_values, needs_own_node, resource_manifest, wait_rollout
from tests.node.helpers import exec_in
from tests.ship.chart import CHART, CRD_NAME, install, uninstall, upgrade
from tests.support.operator_fixtures import (
    ADMIN_TOKEN,
    GROUP_PATH,
    apply,
    secret_manifest,
    wait_condition,
)

pytestmark = pytest.mark.node

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
SCOPED = "scoped"


def pod_token(cluster: Cluster, namespace: str, pod: str) -> str:
    """The ServiceAccount token the kubelet mounted into the pod: what the operator authenticates with."""
    code, token = exec_in(cluster, namespace, pod, "cat", TOKEN_PATH)
    assert code == 0, token
    return token.strip()


def token_can(cluster: Cluster, kubeconfig: Path, verb: str, resource: str, namespace: str | None) -> bool:
    """`kubectl auth can-i` as the token itself (no impersonation)."""
    args = ["--kubeconfig", str(kubeconfig), "auth", "can-i", verb, resource]
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    proc = cluster.kubectl(*args, check=False)
    assert proc.stdout.strip() in ("yes", "no"), proc.stderr
    return proc.stdout.strip() == "yes"


def denied(cluster: Cluster, token: str, method: str, path: str, body: Any = None) -> bool:
    """A real call with the token: True when the API server answers 403 Forbidden."""
    as_token = Cluster(cluster.kubeconfig, cluster.server, token, cluster.workdir, ca_cert=cluster.ca_cert)
    content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
    try:
        as_token.api(method, path, body, content_type=content_type)
    except ApiError as exc:
        return exc.status == 403
    return False


def test_the_operator_token_is_refused_what_the_cluster_scope_chart_does_not_grant(release: Release) -> None:
    (pod,) = release.ready_pods()
    token = pod_token(release.cluster, release.namespace, pod["metadata"]["name"])
    kubeconfig = release.cluster.write_kubeconfig("operator-cluster-scope", token=token)
    cluster = release.cluster
    assert token_can(cluster, kubeconfig, "watch", "externalpayloadstorages.payloads.durable-workflow.io", None)
    assert token_can(cluster, kubeconfig, "create", "jobs.batch", APPS)
    for verb, resource in (("create", "pods"), ("create", "deployments.apps"), ("delete", "namespaces"),
                           ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
                           ("delete", "externalpayloadstorages.payloads.durable-workflow.io")):  # fmt: skip
        assert not token_can(cluster, kubeconfig, verb, resource, APPS), (verb, resource)
    assert denied(cluster, token, "DELETE", f"/api/v1/namespaces/{APPS}")
    assert denied(cluster, token, "GET", f"/api/v1/namespaces/{APPS}/pods")


def _changed_chart(tmp_path: Path) -> Path:
    """The chart with one more printer column in its CRD: a CRD change to roll out with `helm upgrade`."""
    chart = tmp_path / "payload-operator"
    shutil.copytree(CHART, chart)
    crd = chart / "templates" / "crd.yaml"
    text = crd.read_text()
    anchor = "          jsonPath: .spec.driver\n"
    assert anchor in text
    crd.write_text(text.replace(anchor, anchor + "        - name: Generation\n          type: integer\n"
                                "          jsonPath: .metadata.generation\n", 1))  # fmt: skip
    return chart


def _kept_state(cluster: Cluster) -> dict[str, Any]:
    """Per resource: when its Ready condition last changed and its last run ids (what an upgrade must keep)."""
    state = {}
    for item in cluster.api("GET", f"{GROUP_PATH}/namespaces/{APPS}/externalpayloadstorages")["items"]:
        status = item.get("status") or {}
        ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
        runs = {k: (status.get(k) or {}).get("lastResult", {}).get("runId") for k in ("retention", "integrity")}
        state[item["metadata"]["name"]] = (ready.get("status"), ready.get("lastTransitionTime"), runs)
    return state


def test_helm_upgrade_to_a_new_image_and_a_changed_crd_keeps_resources_and_their_status(
    node: NodeCluster, release: Release, dw: EmulatedServer, tmp_path: Path
) -> None:
    needs_own_node(node, "tags the image in the node's containerd")
    node.ctr("images", "tag", "docker.io/library/payload-operator:dev", "docker.io/library/payload-operator:next")
    before = _kept_state(node.cluster)
    assert before, "resources from the earlier tests"
    changed = _changed_chart(tmp_path)
    upgrade(node.cluster, RELEASE, release.namespace, chart_values(node, dw, tag="next"), chart=changed)
    wait_rollout(release, 1, image="payload-operator:next")
    crd = node.cluster.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert "Generation" in columns
    # the new operator resumed every resource: a resync later, nothing changed state and no run was repeated
    (pod,) = release.ready_pods()
    wait_for(
        lambda: all(name in node.cluster.kubectl("logs", "-n", release.namespace, pod["metadata"]["name"]).stdout
                    for name in before),
        60,
        message="the upgraded operator resumed every resource",
    )  # fmt: skip
    assert _kept_state(node.cluster) == before


def test_helm_uninstall_keeps_payloads_server_policies_and_the_crd(
    node: NodeCluster, release: Release, dw: EmulatedServer
) -> None:
    files = {p for p in dw.local_root.rglob("*") if p.is_file()}
    items = node.cluster.api("GET", f"{GROUP_PATH}/namespaces/{APPS}/externalpayloadstorages")["items"]
    resources = {item["metadata"]["name"] for item in items}
    # the server policies the operator pushed (resources refused earlier never got one)
    namespaces = {ns for item in items for ns in item["spec"]["server"]["namespaces"]}
    policies = {ns: policy for ns in namespaces if (policy := dw.policy(ns))}
    assert len(policies) >= 10
    uninstall(node.cluster, RELEASE, release.namespace)
    wait_for(lambda: not release.pods(), 120, message="operator pods gone")
    assert node.cluster.exists(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
    assert set(_kept_state(node.cluster)) == resources
    assert {p for p in dw.local_root.rglob("*") if p.is_file()} >= files
    assert {ns: dw.policy(ns) for ns in policies} == policies  # deletionPolicy Retain: nothing disabled
    assert all(policy.get("enabled") for policy in policies.values())


def test_a_namespace_scoped_release_works_in_its_namespace_and_its_token_is_refused_outside(
    node: NodeCluster, dw: EmulatedServer
) -> None:
    cluster = node.cluster
    for namespace in (SCOPED, f"{SCOPED}-system"):
        cluster.api("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    values = chart_values(
        node,
        dw,
        rbac={"scope": "namespace", "secretNames": ["dw-admin"]},
        watchNamespaces=[SCOPED],
        crds={"install": False},  # the kept CRD of the uninstalled release serves
        runner={"namespaces": []},
    )
    scoped = Release(
        cluster, values, name=SCOPED, namespace=f"{SCOPED}-system", deployment=f"{SCOPED}-payload-operator"
    )
    install(cluster, SCOPED, scoped.namespace, values)
    wait_rollout(scoped, 1)
    manifest = resource_manifest(node, dw, SCOPED, "scoped")
    apply(cluster, secret_manifest(SCOPED, "dw-admin", {"token": ADMIN_TOKEN}), manifest)
    wait_condition(cluster, SCOPED, "scoped", "Ready", "True", timeout=120)

    (pod,) = scoped.ready_pods()
    token = pod_token(cluster, scoped.namespace, pod["metadata"]["name"])
    kubeconfig = cluster.write_kubeconfig("operator-namespace-scope", token=token)
    eps = "externalpayloadstorages.payloads.durable-workflow.io"
    assert token_can(cluster, kubeconfig, "watch", eps, SCOPED)
    assert token_can(cluster, kubeconfig, "patch", eps, SCOPED)
    # outside its namespace: only `list` and `watch` of resources (every root, for the lifecycle overlap check)
    assert token_can(cluster, kubeconfig, "watch", eps, APPS)
    assert not token_can(cluster, kubeconfig, "patch", eps, APPS)
    assert denied(cluster, token, "GET", f"/api/v1/namespaces/{APPS}/secrets/dw-admin")
    assert denied(cluster, token, "GET", f"{GROUP_PATH}/namespaces/{APPS}/externalpayloadstorages/first")
    patch = {"metadata": {"labels": {"touched": "yes"}}}
    assert denied(cluster, token, "PATCH", f"{GROUP_PATH}/namespaces/{APPS}/externalpayloadstorages/first", patch)
    apply(cluster, secret_manifest(SCOPED, "other", {"token": "not-for-the-operator"}))
    assert denied(cluster, token, "GET", f"/api/v1/namespaces/{SCOPED}/secrets/other")  # secretNames pins reads
    uninstall(cluster, SCOPED, scoped.namespace)
