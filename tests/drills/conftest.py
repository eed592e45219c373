"""Fixtures of the drills: a private API server, the operator as a killable process, emulators, proxies.

    drill_cluster   Cluster            a private kube-apiserver with the CRD (like tests/ship: the drills
                                       run their own operator process, which must not share a control
                                       plane with the in-process operator of tests/e2e)
    drill_namespace str                a fresh namespace, deleted afterwards
    operator        OperatorProcess    `python -m payload_operator run -A --standalone`, started
    operator_with   factory            the same with extra PAYLOAD_OPERATOR_* variables (not started)
    dw_server       factory            Durable Workflow server emulators with the drill token
    fault_proxy     factory            FaultProxy in front of a URL, stopped after the test

Against one external cluster ($KUBECONFIG), run `pytest tests/drills` as its own invocation, as for
tests/ship. Every secret value drills hand to the operator is in `values.SECRETS`, for `leaks.assert_no_secrets`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devkit.cluster import Cluster, start_cluster
from devkit.dw_emulator import EmulatedServer, Tokens
from devkit.faultproxy import FaultProxy
from devkit.naming import unique_name
from devkit.operator_process import OperatorProcess
from devkit.values import ADMIN_TOKEN

from tests.conftest import delete_namespace

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "externalpayloadstorages.yaml"
CRD_NAME = "externalpayloadstorages.payloads.durable-workflow.io"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "drill_cluster" in getattr(item, "fixturenames", ()) and item.get_closest_marker("cluster") is None:
            item.add_marker("cluster")


@pytest.fixture(scope="session")
def drill_cluster() -> Iterator[Cluster]:
    with start_cluster() as cluster:
        cluster.install_crd(CRD, CRD_NAME)
        yield cluster


@pytest.fixture
def namespaces(drill_cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """Make fresh namespaces (`namespaces("apps")`); all are deleted after the test."""
    made: list[str] = []

    def make(prefix: str = "") -> str:
        name = unique_name(prefix or f"d-{request.node.name}"[:30])
        drill_cluster.api("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        made.append(name)
        return name

    yield make
    for name in made:
        delete_namespace(drill_cluster, name)


@pytest.fixture
def drill_namespace(namespaces: Callable[[str], str]) -> str:
    return namespaces("")


@pytest.fixture
def operator_with(drill_cluster: Cluster, tmp_path: Path) -> Iterator[Callable[..., OperatorProcess]]:
    """An operator process with extra environment variables; the test starts it."""
    made: list[OperatorProcess] = []

    def make(**env: str) -> OperatorProcess:
        workdir = tmp_path / f"operator-{len(made)}"
        workdir.mkdir()
        process = OperatorProcess(drill_cluster.kubeconfig, workdir, env=env)
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()


@pytest.fixture
def operator(operator_with: Callable[..., OperatorProcess]) -> OperatorProcess:
    """The operator, running, with the fast test intervals."""
    process = operator_with()
    process.start()
    return process


@pytest.fixture
def dw_server(tmp_path: Path) -> Iterator[Callable[..., EmulatedServer]]:
    """Start emulators: `dw_server(namespaces=["orders"], generation="A", ...)`; a local root each."""
    started: list[EmulatedServer] = []

    def start(namespaces: tuple[str, ...] | list[str] = ("orders", "billing"), **options: Any) -> EmulatedServer:
        root = tmp_path / f"payloads-{len(started)}"
        root.mkdir()
        server = EmulatedServer(
            tokens=Tokens(admin=ADMIN_TOKEN, operator="drill-operator-role", worker="drill-worker-role"),
            namespaces=list(namespaces),
            local_root=root,
            **options,
        )
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """Start a FaultProxy in front of a loopback URL: `fault_proxy(server.url)`."""
    started: list[FaultProxy] = []

    def start(target: str) -> FaultProxy:
        proxy = FaultProxy(target).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
