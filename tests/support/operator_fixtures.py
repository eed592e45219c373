"""The real operator under Kopf's KopfRunner, on the real API server, against the server emulator.

Registered for the whole suite from tests/conftest.py (`pytest_plugins`), so every test folder can
request `crd`, `operator`, `dw_server` and `deploy`; the helpers below are plain functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer, Profile, Tokens
from devkit.manifests import secret_manifest
from devkit.procs import free_ports
from devkit.settings import OPERATOR_ENV
from devkit.waiting import wait_for
from kopf.testing import KopfRunner

from devkit import manifests

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "externalpayloadstorages.yaml"
GROUP_PATH = "/apis/payloads.durable-workflow.io/v1alpha1"
ADMIN_TOKEN = "adm-7f3e9c1b2a"  # a distinctive value the secret-leak checks search for


@pytest.fixture(scope="session")
def crd(kube_cluster: Cluster) -> Cluster:
    """The CRD installed and established (--validate=false: 1.20's client schema predates CEL fields)."""
    kube_cluster.install_crd(CRD, "externalpayloadstorages.payloads.durable-workflow.io")
    return kube_cluster


@pytest.fixture(scope="session")
def metrics_port() -> int:
    return free_ports(1)[0]


@pytest.fixture(scope="session")
def operator(crd: Cluster, metrics_port: int) -> Iterator[KopfRunner]:
    """One operator for the session, watching every namespace."""
    saved = {k: os.environ.get(k) for k in [*OPERATOR_ENV, "KUBECONFIG", "PAYLOAD_OPERATOR_METRICS_PORT"]}
    os.environ.update(
        OPERATOR_ENV | {"KUBECONFIG": str(crd.kubeconfig), "PAYLOAD_OPERATOR_METRICS_PORT": str(metrics_port)}
    )
    args = ["run", "-A", "--standalone", "-m", "payload_operator.handlers"]
    try:
        with KopfRunner(args, timeout=60) as runner:
            yield runner
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _gen_a_server(tmp_path: Path, profile: Profile) -> EmulatedServer:
    root = tmp_path / "payloads"
    root.mkdir()
    return EmulatedServer(
        generation="A",
        tokens=Tokens(admin=ADMIN_TOKEN, operator="op-token", worker="wk-token"),
        namespaces=["orders", "billing"],
        profile=profile,
        local_root=root,
    )


@pytest.fixture
def dw_server(tmp_path: Path) -> Iterator[EmulatedServer]:
    """A Gen A server as captured from the real one (no discovery block, payloads inline, no references),
    with two namespaces and a local payload root."""
    with _gen_a_server(tmp_path, "captured") as server:
        yield server


@pytest.fixture
def dw_server_with_references(tmp_path: Path) -> Iterator[EmulatedServer]:
    """A later Gen A server that advertises and presents payload references, for orphan deletion and
    referenced integrity (the captured server makes both refuse)."""
    with _gen_a_server(tmp_path, "references") as server:
        yield server


def eps_manifest(namespace: str, name: str, dw: EmulatedServer, **spec: Any) -> dict[str, Any]:
    """An ExternalPayloadStorage on the emulator and its local payload root, with overrides."""
    return manifests.eps_manifest(namespace, name, url=dw.url, local_root=dw.local_root, **spec)


def apply(cluster: Cluster, *manifests: dict[str, Any]) -> None:
    """kubectl apply, as a user would."""
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))


def patch_spec(cluster: Cluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    """kubectl patch --type=merge of the resource's spec, as a user edits it."""
    cluster.kubectl("patch", "eps", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


def get_eps(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The resource as stored."""
    result: dict[str, Any] = cluster.api("GET", f"{GROUP_PATH}/namespaces/{namespace}/externalpayloadstorages/{name}")
    return result


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    """One condition, or {} when absent."""
    for item in (body.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


def wait_condition(
    cluster: Cluster,
    namespace: str,
    name: str,
    kind: str,
    status: str,
    reason: str | None = None,
    timeout: float = 90.0,
) -> dict[str, Any]:
    """Poll until the condition has the status (and reason), for the current generation.

    The deadline is generous: a reconcile behind a backoff on a busy machine takes tens of seconds, and a
    deadline only costs time when the test fails anyway.
    """

    def check() -> dict[str, Any] | None:
        body = get_eps(cluster, namespace, name)
        found = condition(body, kind)
        current = found.get("observedGeneration") == body["metadata"]["generation"]
        if found.get("status") == status and current and (reason is None or found.get("reason") == reason):
            return body
        return None

    try:
        body: dict[str, Any] = wait_for(check, timeout, message=f"{kind}={status} {reason or ''} on {namespace}/{name}")
    except AssertionError as exc:
        seen = get_eps(cluster, namespace, name)
        raise AssertionError(
            f"{exc}; generation {seen['metadata'].get('generation')}, status {seen.get('status')}"
        ) from None
    return body


def events_for(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """Events whose involved object is the resource."""
    items = cluster.api("GET", f"/api/v1/namespaces/{namespace}/events")["items"]
    return [e for e in items if e.get("involvedObject", {}).get("name") == name]


@pytest.fixture
def deploy(
    crd: Cluster, operator: KopfRunner, kube_namespace: str, dw_server: EmulatedServer
) -> Callable[..., dict[str, Any]]:
    """Create the admin-token Secret and an ExternalPayloadStorage; returns the manifest."""

    def _deploy(name: str = "payloads", *, token: str = ADMIN_TOKEN, **spec: Any) -> dict[str, Any]:
        manifest = eps_manifest(kube_namespace, name, dw_server, **spec)
        apply(crd, secret_manifest(kube_namespace, "dw-admin", {"token": token}), manifest)
        return manifest

    return _deploy


def dump(value: Any) -> str:
    """JSON text for secret-leak scans."""
    return json.dumps(value, default=str)
