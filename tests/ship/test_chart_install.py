"""Each configuration of the chart against a real API server: server-side dry run, `helm install`, uninstall."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devkit.cluster import Cluster

from tests.ship.chart import CRD_NAME, VALUE_SET_NAMES, install, render, uninstall, value_sets
from tests.ship.kube import apply, delete_crds, wait_established

PEERING_CRDS = ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")
# What the Prometheus operator would have installed; only their kinds matter to these tests.
MONITORING_CRDS = {
    "servicemonitors.monitoring.coreos.com": ("ServiceMonitor", "servicemonitors"),
    "prometheusrules.monitoring.coreos.com": ("PrometheusRule", "prometheusrules"),
}


def server_version(cluster: Cluster) -> str:
    version: str = cluster.api("GET", "/version")["gitVersion"]
    return version


def _stub_crd(name: str, kind: str, plural: str) -> dict[str, Any]:
    group = name.split(".", 1)[1]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def monitoring_crds(ship_cluster: Cluster) -> Iterator[None]:
    apply(ship_cluster, [_stub_crd(name, *names) for name, names in MONITORING_CRDS.items()])
    wait_established(ship_cluster, *MONITORING_CRDS)
    yield
    delete_crds(ship_cluster, *MONITORING_CRDS)


@pytest.fixture
def clean_crds(ship_cluster: Cluster) -> Iterator[None]:
    """Kept CRDs belong to the release that installed them: remove them so the next release may install its own."""
    yield
    delete_crds(ship_cluster, CRD_NAME, *PEERING_CRDS)


def _path(doc: Any) -> str:
    """`kubectl get` arguments of a rendered document."""
    return f"{doc.body['kind']}/{doc.name}"


def _exists(cluster: Cluster, doc: Any) -> bool:
    args = ["get", _path(doc), "-o", "name"]
    args += ["-n", doc.namespace] if doc.namespace else []
    return cluster.kubectl(*args, check=False).returncode == 0


@pytest.mark.usefixtures("monitoring_crds", "clean_crds")
@pytest.mark.parametrize("value_set", VALUE_SET_NAMES)
def test_dry_run_install_and_uninstall(ship_cluster: Cluster, namespaces: Callable[[str], str], value_set: str) -> None:
    release_ns, watched = namespaces("payload-system"), namespaces("apps")
    values = value_sets(watched)[value_set]
    release = f"po-{value_set}"
    kube_version = server_version(ship_cluster)
    if value_set == "no-crds":  # what NOTES.txt tells users to do: the chart's CRD, rendered for their version
        crd = [d.body for d in render({}, kube_version=kube_version) if d.kind == "CustomResourceDefinition"]
        apply(ship_cluster, crd)
        wait_established(ship_cluster, CRD_NAME)
    docs = render(values, kube_version=kube_version, name=release, namespace=release_ns)

    # Hooks are custom resources of CRDs this very release creates; Helm applies them after the CRDs.
    out = apply(ship_cluster, [d.body for d in docs if not d.is_hook], dry_run=True)
    assert "(server dry run)" in out
    assert not _exists(ship_cluster, next(d for d in docs if d.kind == "Deployment")), "dry run changes nothing"

    install(ship_cluster, release, release_ns, values)
    missing = [_path(d) for d in docs if not _exists(ship_cluster, d)]
    assert missing == []
    served = [d for d in docs if d.kind == "CustomResourceDefinition"]
    wait_established(ship_cluster, *(d.name for d in served))
    if served:  # what the release installed is valid as a whole now: every document passes a dry run again
        apply(ship_cluster, [d.body for d in docs], dry_run=True)

    uninstall(ship_cluster, release, release_ns)
    left = {_path(d) for d in docs if _exists(ship_cluster, d)}
    kept = {_path(d) for d in docs if d.kind == "CustomResourceDefinition" or d.is_hook}
    assert left <= kept, "uninstall leaves only the kept CRDs (and the peering hook objects)"
    if value_set != "no-crds":
        assert f"CustomResourceDefinition/{CRD_NAME}" in left, "crds.keep: custom resources survive an uninstall"
