"""Fixtures of the shipping tests (image, chart, examples).

`ship_cluster` is a private API server (or the one in $KUBECONFIG): these tests install and delete CRDs,
cluster roles and peering objects, and run their own operator under the chart's ServiceAccount, so they
must not share a control plane with the operator of tests/e2e. Against one external cluster, run
`pytest tests/ship` and `pytest tests/e2e` as separate invocations (scripts/kind-e2e.sh does).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import pytest
from devkit.cluster import Cluster, start_cluster

from tests.conftest import delete_namespace
from tests.ship.kube import create_namespace

# The user's choice, read at collection: other fixtures (tests/e2e's operator) export KUBECONFIG for their own
# cluster while the session runs, and these tests must not follow them there.
USER_KUBECONFIG = os.environ.get("KUBECONFIG")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "ship_cluster" in getattr(item, "fixturenames", ()) and item.get_closest_marker("cluster") is None:
            item.add_marker("cluster")


@contextlib.contextmanager
def _users_kubeconfig() -> Iterator[None]:
    current = os.environ.pop("KUBECONFIG", None)
    if USER_KUBECONFIG:
        os.environ["KUBECONFIG"] = USER_KUBECONFIG
    try:
        yield
    finally:
        os.environ.pop("KUBECONFIG", None)
        if current is not None:
            os.environ["KUBECONFIG"] = current


@pytest.fixture(scope="session")
def ship_cluster() -> Iterator[Cluster]:
    with contextlib.ExitStack() as stack:
        with _users_kubeconfig():  # start_cluster decides private vs. $KUBECONFIG on entry
            cluster = stack.enter_context(start_cluster())
        yield cluster


@pytest.fixture
def namespaces(ship_cluster: Cluster) -> Iterator[Callable[[str], str]]:
    """Make fresh namespaces (`namespaces("apps")`); all are deleted after the test."""
    made: list[str] = []

    def make(prefix: str) -> str:
        name = create_namespace(ship_cluster, prefix)
        made.append(name)
        return name

    yield make
    for name in made:
        delete_namespace(ship_cluster, name)
