"""The `node` suite: the operator image, installed by its chart, on a one-node cluster whose Pods and Jobs run.

Fixtures are package-scoped: one image build, one node and one `helm install` serve every test here, and the
node stops when the last of them ends (before the rest of the run). Every test marks itself `node`.

    node_target  NodeTarget      where the suite runs (devkit/node_target.py): its own node, or KUBECONFIG's
                                 cluster (kind: the built image loaded; elsewhere IMAGE pulled); else a skip
    node_image   ImageBuild      `make image` (scripts/build-image.sh --save), with its size and build time
    node         NodeCluster     devkit/node.py, the image imported into its containerd (or a user's cluster)
    dw           EmulatedServer  the Durable Workflow emulator on the host (pods reach it through the bridge)
    release      Release         charts/payload-operator installed with that image, cluster scope, Ready
    apps         str             the namespace where resources (and therefore their Jobs) live

Timings of interest (image build, node start, install to Ready, a Job's start to its result in status,
takeover after the active replica is killed) are collected in TIMINGS, printed in the terminal summary and
written to .work/node-suite/timings.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from devkit.cluster import Cluster, start_cluster
from devkit.dw_emulator import EmulatedServer, Tokens
from devkit.node import NodeCluster, start_node_cluster, use_cluster_node
from devkit.node_target import NodeTarget, Skip, current_node_target
from devkit.procs import REPO_ROOT
from devkit.waiting import wait_for

from tests.ship.chart import install
from tests.support.operator_fixtures import ADMIN_TOKEN, apply, eps_manifest, secret_manifest, wait_condition

IMAGE_REPOSITORY = "payload-operator"
IMAGE_TAG = "dev"
RELEASE = "payload-operator"
RELEASE_NAMESPACE = "payload-system"
APPS = "apps"
OUT = REPO_ROOT / ".work" / "node-suite"
TIMINGS: dict[str, float] = {}
# The image's size budget (docs/install.md): the CI build on the mmdebstrap stand-in base measured 331 MB.
IMAGE_BUDGET_BYTES = 360_000_000


@dataclass(frozen=True)
class ImageBuild:
    tar: Path
    size: int
    seconds: float


@dataclass
class Release:
    """The chart as installed: the values used and the cluster it is in."""

    cluster: Cluster
    values: dict[str, Any]
    name: str = RELEASE
    namespace: str = RELEASE_NAMESPACE
    deployment: str = RELEASE  # the chart's full name: the release name, plus "-payload-operator" if not in it
    selector: str = "app.kubernetes.io/component=operator"

    def pods(self) -> list[dict[str, Any]]:
        """The operator's pods (not being deleted)."""
        items = self.cluster.api("GET", f"/api/v1/namespaces/{self.namespace}/pods?labelSelector={self.selector}")
        return [p for p in items["items"] if not p["metadata"].get("deletionTimestamp")]

    def ready_pods(self) -> list[dict[str, Any]]:
        return [p for p in self.pods() if pod_ready(p)]


def pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def record_time(name: str, seconds: float) -> None:
    TIMINGS[name] = round(seconds, 1)


def chart_values(node: NodeCluster, dw: EmulatedServer, tag: str = "", **overrides: Any) -> dict[str, Any]:
    """The chart's values for this node: its operator image (`tag` instead of the image's own), short operator
    intervals, and a tenant policy that admits this node's servers (behind the pods' bridge, or the host address
    of a user's cluster) and the emulator's payload root, which the operator pod mounts on the suite's own node."""
    repository, _, image_tag = node.image.rpartition(":")
    values: dict[str, Any] = {
        "image": {
            "repository": repository,
            "tag": tag or image_tag,
            "pullPolicy": node.image_pull_policy,
        },
        "config": {"timerInterval": 1, "backoffBase": 1, "backoffMax": 4},
        "runner": {"namespaces": [APPS]},
        "rbac": {"restartDeploymentsNamespaces": [APPS]},
        "livenessProbe": {"initialDelaySeconds": 5, "periodSeconds": 5},
        "readinessProbe": {"initialDelaySeconds": 2, "periodSeconds": 2},
        "tenantPolicy": {
            "endpoints": [{"hosts": [f"{node.gateway}/32"]}],
            "localRoots": [{"path": str(dw.local_root)}],
        },
    }
    if node.own:  # the operator sweeps local tmp prefixes itself: it mounts the payload root, as users do
        values["extraVolumes"] = [{"name": "payloads", "hostPath": {"path": str(dw.local_root), "type": "Directory"}}]
        values["extraVolumeMounts"] = [{"name": "payloads", "mountPath": str(dw.local_root)}]
    return values | overrides


def wait_rollout(release: Release, replicas: int, *, image: str | None = None, timeout: float = 180) -> None:
    """Like `kubectl rollout status`: the Deployment's current template has `replicas` Ready pods (of `image`,
    when given), and no other operator pod remains."""
    path = f"/apis/apps/v1/namespaces/{release.namespace}/deployments/{release.deployment}"

    def done() -> bool:
        deployment = release.cluster.api("GET", path)
        status = deployment.get("status") or {}
        current = status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
        counts = [status.get(k, 0) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")]
        pods = release.pods()
        images = {p["spec"]["containers"][0]["image"] for p in pods}
        settled = len(pods) == len([p for p in pods if pod_ready(p)]) == replicas
        return current and counts == [replicas] * 4 and settled and (image is None or images == {image})

    wait_for(done, timeout, interval=0.5, message=f"{replicas} Ready operator pod(s) {image or ''}")


# --------------------------------------------------------------------- fixtures
def needs_own_node(node: NodeCluster, why: str) -> None:
    """Skip on a user's cluster what only the suite's own node allows (its containerd, host paths)."""
    if not node.own:
        pytest.skip(f"needs the suite's own node ({why}); this is KUBECONFIG's cluster")


@pytest.fixture(scope="package")
def node_target() -> NodeTarget:
    target = current_node_target(f"{IMAGE_REPOSITORY}:{IMAGE_TAG}")
    if isinstance(target, Skip):
        pytest.skip(target.reason)
    return target


@pytest.fixture(scope="package")
def node_image(node_target: NodeTarget) -> ImageBuild:
    """`make image`: the image of this commit, saved for containerd (on kind also loaded into its nodes)."""
    if node_target.cluster == "pull":
        pytest.skip(f"IMAGE={node_target.image}: the suite runs that image and builds none")
    tar = OUT / "payload-operator.tar"
    env = {**os.environ, "IMAGE": node_target.image}
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "build-image.sh"), "--save", str(tar)],
        env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"image build failed:\n{proc.stderr[-6000:]}"
    build = ImageBuild(tar, int(proc.stdout.strip().splitlines()[-1]), time.monotonic() - t0)
    record_time("image build (s)", build.seconds)
    TIMINGS["image size (MB)"] = round(build.size / 1e6)
    if node_target.cluster == "kind":
        load = ["kind", "load", "docker-image", node_target.image, "--name", node_target.kind_name]
        proc = subprocess.run(load, capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, f"kind load failed:\n{proc.stderr[-4000:]}"
    return build


@pytest.fixture(scope="package")
def node(node_target: NodeTarget, request: pytest.FixtureRequest) -> Iterator[NodeCluster]:
    if node_target.cluster == "own":
        image: ImageBuild = request.getfixturevalue("node_image")
        t0 = time.monotonic()
        with start_node_cluster([image.tar]) as started:
            record_time("node start incl. image import (s)", time.monotonic() - t0)
            started.image = node_target.image
            yield started
        return
    if node_target.cluster == "kind":
        request.getfixturevalue("node_image")  # built and loaded into the kind nodes
    pull_policy = "Never" if node_target.cluster == "kind" else "IfNotPresent"
    address, image = node_target.host_address, node_target.image
    with start_cluster() as cluster, use_cluster_node(cluster, address, image, pull_policy) as user_node:
        yield user_node


@pytest.fixture(scope="package")
def dw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedServer]:
    """The server emulator, as a Gen A server that presents payload references (so orphan audits and
    referenced integrity run); its local payload root is a host directory Job pods mount (hostPath)."""
    root = tmp_path_factory.mktemp("node-payloads")
    root.chmod(0o755)
    tokens = Tokens(admin=ADMIN_TOKEN, operator="op-token", worker="wk-token")
    with EmulatedServer(
        generation="A", tokens=tokens, namespaces=["default"], profile="references", local_root=root
    ) as server:
        yield server


@pytest.fixture(scope="package")
def release(node: NodeCluster, dw: EmulatedServer) -> Release:
    """The chart installed with the built image (cluster scope), its operator pod Ready."""
    cluster = node.cluster
    for namespace in (APPS, RELEASE_NAMESPACE):
        cluster.api("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    installed = Release(cluster, chart_values(node, dw))
    t0 = time.monotonic()
    install(cluster, RELEASE, RELEASE_NAMESPACE, installed.values)
    wait_rollout(installed, 1)
    record_time("helm install to operator pod Ready (s)", time.monotonic() - t0)
    # the pod is Ready once it reaches the API (its readiness probe); the first resource shows it works too
    first = resource_manifest(node, dw, APPS, "first")
    secret = secret_manifest(APPS, "dw-admin", {"token": ADMIN_TOKEN})
    wait_for(lambda: _applied(cluster, secret, first), 60, message="the chart's CRD serves")
    wait_condition(cluster, APPS, "first", "Ready", "True", timeout=120)
    record_time("helm install to the first ExternalPayloadStorage Ready (s)", time.monotonic() - t0)
    return installed


def _applied(cluster: Cluster, *manifests: dict[str, Any]) -> bool:
    try:
        apply(cluster, *manifests)
    except subprocess.CalledProcessError:
        return False
    return True


@pytest.fixture(scope="package")
def apps(release: Release) -> str:
    return APPS


Deploy = Callable[..., dict[str, Any]]


def server_namespaces(dw: EmulatedServer, name: str) -> list[str]:
    """The two Durable Workflow namespaces of resource `name` (created on the emulator when missing)."""
    namespaces = [f"{name}-a", f"{name}-b"]
    for namespace in namespaces:
        if dw.namespace(namespace) is None:
            dw.add_namespace(namespace)
    return namespaces


@pytest.fixture
def deploy(node: NodeCluster, release: Release, dw: EmulatedServer, apps: str) -> Deploy:
    """An ExternalPayloadStorage (its token Secret and `extra` objects) in `apps`, on the emulator as pods reach it.

    Each resource gets Durable Workflow namespaces of its own (:func:`server_namespaces`), so resources never
    fight over one server policy.
    """

    def _deploy(name: str, *extra: dict[str, Any], **spec: Any) -> dict[str, Any]:
        manifest = resource_manifest(node, dw, apps, name, **spec)
        apply(node.cluster, secret_manifest(apps, "dw-admin", {"token": ADMIN_TOKEN}), *extra, manifest)
        return manifest

    return _deploy


def resource_manifest(node: NodeCluster, dw: EmulatedServer, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    """An ExternalPayloadStorage on the emulator as pods reach it (local driver unless `spec` says otherwise)."""
    manifest = eps_manifest(namespace, name, dw, **spec)
    if manifest["spec"]["driver"] != "local":
        del manifest["spec"]["local"]
    # 60 s per server call, not 15: the emulator answers from the test process, which a busy machine can
    # stall for longer than a real server would, and a timed-out cluster-info makes a run (rightly) partial
    server = {"url": node.pod_url(dw.url), "namespaces": server_namespaces(dw, name), "requestTimeoutSeconds": 60}
    manifest["spec"]["server"] |= server
    return manifest


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TIMINGS:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")
    terminalreporter.write_sep("-", "node suite timings")
    for name, value in TIMINGS.items():
        terminalreporter.write_line(f"{name}: {value}")
