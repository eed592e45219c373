"""Every example is accepted by the API server and by the operator's own models, and is self-consistent."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from devkit.cluster import Cluster

from payload_operator.adapters.kube import CONSENT_LABEL
from payload_operator.api.resource import resource_from_body
from tests.ship.chart import CHART, CRD_NAME, REPO, render
from tests.ship.kube import apply, delete_crds, kustomize, wait_established

EXAMPLES = REPO / "examples"
DRIVER_EXAMPLES = sorted(p.parent for p in EXAMPLES.glob("*/externalpayloadstorage.yaml"))
ARGO_CRD = "applications.argoproj.io"
HEALTH_KEY = "resource.customizations.health.payloads.durable-workflow.io_ExternalPayloadStorage"
REQUIRED_KEYS = {
    "s3": {"accessKeyId", "secretAccessKey"},
    "gcs": set(),  # the key is named by credentialsSecretRef.key
    "azure": {"connectionString"},
}


def _docs(directory: Path) -> list[dict[str, Any]]:
    return [d for path in sorted(directory.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]


def _secrets(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Secret name -> decoded data (stringData and data)."""
    found = {}
    for doc in docs:
        if doc["kind"] == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
            found[doc["metadata"]["name"]] = data | (doc.get("stringData") or {})
    return found


def _relocate(docs: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The documents in a test namespace (Namespace objects dropped)."""
    moved = []
    for doc in docs:
        if doc["kind"] == "Namespace":
            continue
        copy = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
        moved.append(copy)
    return moved


def test_every_driver_has_an_example() -> None:
    drivers = {
        yaml.safe_load((d / "externalpayloadstorage.yaml").read_text())["spec"]["driver"] for d in DRIVER_EXAMPLES
    }
    assert drivers == {"s3", "gcs", "azure", "local"}


@pytest.mark.parametrize("directory", DRIVER_EXAMPLES, ids=lambda p: p.name)
def test_example_parses_and_ships_the_secrets_it_references(directory: Path) -> None:
    docs = _docs(directory)
    storages = [d for d in docs if d["kind"] == "ExternalPayloadStorage"]
    assert storages
    secrets = _secrets(docs)
    for body in storages:
        spec = resource_from_body(body).spec  # the operator's own validation, CEL rules included
        token = spec.server.token_secret_ref
        assert secrets.get(token.name, {}).get(token.key), f"{directory.name}: token Secret {token.name}/{token.key}"
        block = spec.s3 or spec.gcs or spec.azure
        reference = block.credentials_secret_ref if block is not None else None
        if reference is not None:
            assert reference.name in secrets, f"{directory.name}: credentials Secret {reference.name}"
            keys = REQUIRED_KEYS[spec.driver.value] | ({reference.key} if spec.gcs is not None else set())
            assert keys <= set(secrets[reference.name]), f"{directory.name}: keys of {reference.name}"
    for doc in docs:
        if doc["kind"] == "Secret":  # the operator reads only Secrets that opted in
            assert _consents(doc), f"{directory.name}: Secret {doc['metadata']['name']} lacks {CONSENT_LABEL}"


def _consents(secret: dict[str, Any]) -> bool:
    return (secret["metadata"].get("labels") or {}).get(CONSENT_LABEL) == "true"


def test_cirrus_layout_expires_only_the_tmp_prefix() -> None:
    body = yaml.safe_load((EXAMPLES / "cirrus-layout" / "externalpayloadstorage.yaml").read_text())
    spec = resource_from_body(body).spec
    assert spec.lifecycle is not None
    assert spec.lifecycle.tmp_prefixes == ["tmp/"]
    assert spec.lifecycle.expiration_days == 10, "the Cirrus default"
    assert spec.prefix


@pytest.fixture(scope="module")
def example_crds(ship_cluster: Cluster) -> Iterator[None]:
    """The chart's CRD for this cluster's version, and a stand-in for Argo CD's Application CRD."""
    version = ship_cluster.api("GET", "/version")["gitVersion"]
    crd = [d.body for d in render({}, kube_version=version) if d.kind == "CustomResourceDefinition"]
    argo = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": ARGO_CRD},
        "spec": {
            "group": "argoproj.io",
            "scope": "Namespaced",
            "names": {"kind": "Application", "plural": "applications", "singular": "application"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    apply(ship_cluster, [*crd, argo])
    wait_established(ship_cluster, CRD_NAME, ARGO_CRD)
    yield
    delete_crds(ship_cluster, ARGO_CRD, CRD_NAME)


@pytest.mark.usefixtures("example_crds")
@pytest.mark.parametrize("directory", DRIVER_EXAMPLES, ids=lambda p: p.name)
def test_example_applies_to_the_api_server(
    ship_cluster: Cluster, namespaces: Callable[[str], str], directory: Path
) -> None:
    docs = _relocate(_docs(directory), namespaces("examples"))
    assert "(server dry run)" in apply(ship_cluster, docs, dry_run=True)
    out = apply(ship_cluster, docs)
    assert out.count("serverside-applied") == len(docs)


@pytest.mark.usefixtures("example_crds")
def test_kustomize_overlay_renames_secrets_and_references_together(
    ship_cluster: Cluster, namespaces: Callable[[str], str]
) -> None:
    docs = kustomize(str(EXAMPLES / "kustomize" / "overlays" / "production"))
    storage = next(d for d in docs if d["kind"] == "ExternalPayloadStorage")
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    assert storage["metadata"]["namespace"] == "workflows-prod"
    assert storage["spec"]["server"]["tokenSecretRef"]["name"] == "prod-dw-admin"
    assert storage["spec"]["s3"]["credentialsSecretRef"]["name"] == "prod-dw-payloads-s3"
    assert {"prod-dw-admin", "prod-dw-payloads-s3"} <= secrets
    assert all(_consents(d) for d in docs if d["kind"] == "Secret"), "generated Secrets opt in"
    assert storage["spec"]["s3"]["bucket"] == "dw-payloads-prod"
    resource_from_body(storage)
    out = apply(ship_cluster, _relocate(docs, namespaces("overlay")))
    assert out.count("serverside-applied") == 3


@pytest.mark.usefixtures("example_crds")
def test_argocd_example_installs_the_health_check_and_applications(
    ship_cluster: Cluster, namespaces: Callable[[str], str]
) -> None:
    import helm_python

    docs = kustomize(str(EXAMPLES / "argocd"))
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    assert configmap["metadata"]["name"] == "argocd-cm"
    assert configmap["data"][HEALTH_KEY] == (EXAMPLES / "argocd" / "health.lua").read_text()
    applications = [d for d in docs if d["kind"] == "Application"]
    for app in applications:
        source = app["spec"]["source"]
        assert (REPO / source["path"]).is_dir(), f"{app['metadata']['name']}: {source['path']} exists in the repo"
        if "helm" in source:
            with helm_python.Chart.load(str(CHART)) as chart:
                chart.validate_schema(source["helm"]["valuesObject"])
    namespace = namespaces("argocd")
    apply(ship_cluster, _relocate([configmap], namespace))
    assert "(server dry run)" in apply(ship_cluster, _relocate(applications, namespace), dry_run=True)


def test_argocd_chart_values_let_the_operator_read_and_write_what_the_overlay_needs() -> None:
    apps = [d for d in kustomize(str(EXAMPLES / "argocd")) if d["kind"] == "Application"]
    operator_app = next(d for d in apps if d["spec"]["source"].get("helm"))
    rbac = operator_app["spec"]["source"]["helm"]["valuesObject"]["rbac"]
    overlay = kustomize(str(EXAMPLES / "kustomize" / "overlays" / "production"))
    for body in (d for d in overlay if d["kind"] == "ExternalPayloadStorage"):
        spec = resource_from_body(body).spec
        block = spec.s3 or spec.gcs or spec.azure
        referenced = {spec.server.token_secret_ref.name}
        if block is not None and block.credentials_secret_ref is not None:
            referenced.add(block.credentials_secret_ref.name)
        assert referenced <= set(rbac["secretNames"])
        if spec.s3 is not None:
            assert f"{body['metadata']['name']}-server-env" in rbac["ownedSecretNames"]
