"""Shared fixtures. Session-scoped servers start lazily: only when a test requests them.

    kube_cluster    Cluster          etcd + kube-apiserver 1.20.2 + kube-controller-manager
                                     (or the cluster of $KUBECONFIG as set when pytest started)
    kube_namespace  str              a fresh namespace per test, deleted afterwards (custom resources first)
    moto_s3         S3Endpoint       moto S3 server
    rgw_s3          S3Endpoint       Ceph radosgw (real lifecycle enforcement; 1 day = 10 s)
    azurite         AzuriteEndpoint  Azurite blob service
    gcs_emulator    GcsEndpoint      gcp-storage-emulator

Tests that use kube_cluster / rgw_s3 (directly or through other fixtures) are marked ``cluster`` /
``rgw`` automatically, so ``-m "not cluster and not rgw"`` selects the quick ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from devkit.cluster import ApiError, Cluster, start_cluster
from devkit.naming import unique_name
from devkit.procs import in_ci
from devkit.services import (
    AzuriteEndpoint,
    GcsEndpoint,
    S3Endpoint,
    ceph_missing,
    start_azurite,
    start_gcs_emulator,
    start_moto,
    start_rgw,
)

# The running operator (KopfRunner), the CRD and the server emulator, for every test folder.
pytest_plugins = ["tests.support.operator_fixtures"]

log = logging.getLogger("tests.fixtures")

_AUTO_MARKERS = {"kube_cluster": "cluster", "rgw_s3": "rgw"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marker in _AUTO_MARKERS.items():
            if fixture in names and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[Cluster]:
    with start_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3Endpoint]:
    with start_moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def rgw_s3() -> Iterator[S3Endpoint]:
    missing = ceph_missing()
    if missing and not in_ci():
        pytest.skip(f"Ceph RGW not installed (missing {', '.join(missing)}); run `make bootstrap`")
    with start_rgw() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoint]:
    with start_azurite() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEndpoint]:
    with start_gcs_emulator() as endpoint:
        yield endpoint


@pytest.fixture
def kube_namespace(kube_cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted at teardown (not awaited)."""
    name = unique_name(f"t-{request.node.name}"[:40])
    kube_cluster.api(
        "POST",
        "/api/v1/namespaces",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"payload-operator.test/ephemeral": "true"}},
        },
    )
    try:
        yield name
    finally:
        delete_namespace(kube_cluster, name)


def delete_namespace(cluster: Cluster, namespace: str) -> None:
    """Best effort: delete custom resources (dropping finalizers nobody will remove), then the namespace."""
    try:
        crds = cluster.api("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
    except Exception as exc:
        log.warning("namespace %s cleanup: cannot list CRDs: %s", namespace, exc)
        crds = []
    for crd in crds:
        spec: dict[str, Any] = crd["spec"]
        if spec.get("scope") != "Namespaced":
            continue
        served = [v["name"] for v in spec.get("versions", []) if v.get("served")]
        if not served:
            continue
        base = f"/apis/{spec['group']}/{served[0]}/namespaces/{namespace}/{spec['names']['plural']}"
        try:
            items = cluster.api("GET", base)["items"]
            if not items:
                continue
            cluster.api("DELETE", base)
            for obj in cluster.api("GET", base)["items"]:
                if obj["metadata"].get("finalizers"):
                    cluster.api(
                        "PATCH",
                        f"{base}/{obj['metadata']['name']}",
                        {"metadata": {"finalizers": None}},
                        content_type="application/merge-patch+json",
                    )
        except ApiError as exc:
            if exc.status != 404:
                log.warning("namespace %s cleanup of %s: %s", namespace, base, exc)
        except Exception as exc:
            log.warning("namespace %s cleanup of %s: %s", namespace, base, exc)
    try:
        cluster.api("DELETE", f"/api/v1/namespaces/{namespace}")
    except Exception as exc:
        log.warning("namespace %s: delete failed: %s", namespace, exc)
