"""The operator as users run it: the image, started by the chart's Deployment, as a real pod on a node."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from devkit.dw_emulator import EmulatedServer
from devkit.node import NodeCluster
from devkit.procs import REPO_ROOT
from devkit.services import S3Endpoint
from devkit.waiting import wait_for

from tests.node.conftest import IMAGE_BUDGET_BYTES, ImageBuild, Release
from tests.node.helpers import exec_in, json_lines, kube_time, logs, metrics, sample
from tests.support.operator_fixtures import ADMIN_TOKEN, wait_condition

# the first test pays for the package's fixtures: the image build (3-4 min cold), the node, the install
pytestmark = [pytest.mark.node, pytest.mark.timeout(1800)]

LEAN_CHECK = (
    "import importlib.util as u, shutil; "
    "print(sorted(m for m in ('pip', 'setuptools', 'wheel', 'ensurepip') if u.find_spec(m)) "
    "+ sorted(t for t in ('pip', 'pip3', 'gcc', 'cc', 'make') if shutil.which(t)))"
)


def _operator_pod(release: Release) -> dict[str, Any]:
    (pod,) = wait_for(release.ready_pods, 120, message="a Ready operator pod")
    return pod


def _run_image(node: NodeCluster, name: str, code: str, limits: dict[str, str] | None = None) -> str:
    """Run `python -c code` in a bare pod of the image; its log once it finished."""
    container: dict[str, Any] = {
        "name": "check",
        "image": "payload-operator:dev",
        "imagePullPolicy": "Never",
        "command": ["python", "-c", code],
    }
    if limits:
        container["resources"] = {"limits": limits, "requests": limits}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False, "containers": [container]},
    }
    node.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))
    wait_for(
        lambda: (
            node.cluster.api("GET", f"/api/v1/namespaces/default/pods/{name}")["status"].get("phase")
            in ("Succeeded", "Failed")
        ),
        120,
        message=f"the {name} pod finished",
    )
    return logs(node.cluster, "default", name)


def test_the_image_is_lean_and_within_its_size_budget(node_image: ImageBuild, node: NodeCluster) -> None:
    assert node_image.size <= IMAGE_BUDGET_BYTES, f"image is {node_image.size / 1e6:.0f} MB"
    assert _run_image(node, "lean-check", LEAN_CHECK).strip() == "[]", "installers or compilers in the image"


def test_a_pod_limited_to_one_cpu_hashes_local_files_on_at_most_two_threads(node: NodeCluster) -> None:
    """The node has more CPUs than the limit: the read cap follows the container's limit, not the node."""
    code = (
        "import os; from payload_operator.adapters.storage.local import LocalStore;"
        "from payload_operator.tasks.integrity.hashing import read_workers;"
        "print(len(os.sched_getaffinity(0)), read_workers(LocalStore('/tmp'), 16))"
    )
    cpus, workers = _run_image(node, "cpu-limit-check", code, {"cpu": "1", "memory": "128Mi"}).split()
    assert int(cpus) > 1, "the node needs two CPUs for this check"
    assert workers == "2"


def test_the_operator_pod_runs_as_non_root_on_a_read_only_root_filesystem(release: Release) -> None:
    pod = _operator_pod(release)
    name = pod["metadata"]["name"]
    assert exec_in(release.cluster, release.namespace, name, "id", "-u") == (0, "65532\n")
    code, output = exec_in(release.cluster, release.namespace, name, "touch", "/opt/payload-operator/probe")
    assert code != 0
    assert "Read-only file system" in output
    assert exec_in(release.cluster, release.namespace, name, "touch", "/tmp/probe")[0] == 0  # the emptyDir


def test_the_liveness_probe_keeps_passing_and_the_readiness_probe_makes_the_pod_ready(release: Release) -> None:
    pod = _operator_pod(release)
    probe = pod["spec"]["containers"][0]["livenessProbe"]
    # long enough for the kubelet to probe three times after the initial delay
    settle = probe["initialDelaySeconds"] + 3 * probe["periodSeconds"]
    started = kube_time(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    wait_for(
        lambda: (datetime.now(UTC) - started).total_seconds() > settle,
        settle + 10,
        interval=1,
        message="the operator ran through several liveness probes",
    )
    name = pod["metadata"]["name"]
    after = release.cluster.api("GET", f"/api/v1/namespaces/{release.namespace}/pods/{name}")
    status = after["status"]["containerStatuses"][0]
    assert (status["restartCount"], status["ready"]) == (0, True)
    readiness = after["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    assert (readiness["path"], readiness["port"]) == ("/readyz", "ready")
    with urllib.request.urlopen(f"http://{after['status']['podIP']}:8082/readyz", timeout=10) as answer:
        assert json.loads(answer.read())["ready"] is True, "the operator reaches the API from its pod"
    warnings = [
        e["message"]
        for e in release.cluster.api("GET", f"/api/v1/namespaces/{release.namespace}/events")["items"]
        if e.get("involvedObject", {}).get("name") == name and e.get("reason") == "Unhealthy"
    ]
    assert warnings == []


def test_examples_applied_with_kubectl_become_ready(
    node: NodeCluster, release: Release, apps: str, dw: EmulatedServer, moto_s3: S3Endpoint
) -> None:
    """examples/local and examples/s3, pointed at this node's servers, as a user would edit them."""
    moto_s3.client().create_bucket(Bucket="dw-payloads-example")
    edited: list[dict[str, Any]] = []
    for example in ("local", "s3"):
        for path in sorted((REPO_ROOT / "examples" / example).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                edited.append(_pointed_here(doc, example, apps, node, dw, moto_s3))
    release.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(edited))
    for doc in edited:
        if doc["kind"] == "ExternalPayloadStorage":
            wait_condition(release.cluster, apps, doc["metadata"]["name"], "Ready", "True", timeout=120)


def _pointed_here(
    doc: dict[str, Any], example: str, apps: str, node: NodeCluster, dw: EmulatedServer, s3: S3Endpoint
) -> dict[str, Any]:
    """An example document in `apps`, its Secrets renamed per example, its URLs and paths on this node."""
    doc["metadata"]["namespace"] = apps
    if doc["kind"] == "Secret":
        doc["metadata"]["name"] = f"example-{example}-{doc['metadata']['name']}"
        values = doc["stringData"]
        if "token" in values:
            values["token"] = ADMIN_TOKEN
        if "accessKeyId" in values:
            values |= {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key}
        return doc
    spec = doc["spec"]
    doc["metadata"]["name"] = f"example-{example}"
    namespaces = [f"example-{example}-{n}" for n in spec["server"]["namespaces"]]
    for namespace in namespaces:
        if dw.namespace(namespace) is None:
            dw.add_namespace(namespace)
    spec["server"] |= {"url": node.pod_url(dw.url), "namespaces": namespaces}
    spec["server"]["tokenSecretRef"]["name"] = f"example-{example}-{spec['server']['tokenSecretRef']['name']}"
    if "local" in spec:
        spec["local"]["path"] = str(dw.local_root)
    if "s3" in spec:
        spec["s3"] |= {"endpoint": node.pod_url(s3.url), "region": s3.region, "forcePathStyle": True}
        spec["s3"]["credentialsSecretRef"]["name"] = f"example-{example}-{spec['s3']['credentialsSecretRef']['name']}"
    return doc


def test_the_pod_serves_metrics_and_logs_json_without_secrets(release: Release, apps: str, moto_s3: S3Endpoint) -> None:
    """After the examples: their conditions are exported, and no line of the log is plain text or a secret."""
    pod = _operator_pod(release)
    wait_for(
        lambda: (
            sample(metrics(pod), "payload_operator_condition", resource_name="example-local", condition="Ready") == 1.0
        ),
        60,
        message="the Ready condition of example-local in the pod's metrics",
    )
    assert sample(metrics(pod), "payload_operator_build_info") == 1.0
    text = logs(release.cluster, release.namespace, pod["metadata"]["name"])
    records = json_lines(text)
    assert records, "the operator logged nothing"
    for secret in (ADMIN_TOKEN, moto_s3.secret_key):
        assert secret not in text
