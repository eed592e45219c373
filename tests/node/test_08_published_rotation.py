"""Rotation on the real node: the published `<name>-server-env` Secret and `<name>-policy` ConfigMap carry a
content hash (also in status), and a Deployment named in spec.publish.restartDeployments that loads the Secret
with envFrom gets new pods holding the rotated credentials after the credentials Secret changes
(docs/wiring.md)."""

from __future__ import annotations

from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer
from devkit.manifests import secret_manifest
from devkit.node import NodeCluster
from devkit.services import S3Endpoint
from devkit.waiting import wait_for

from tests.node.conftest import Deploy, Release, pod_ready
from tests.node.helpers import exec_in, pods
from tests.node.test_02_job_runs import s3_resource, s3_target
from tests.support.operator_fixtures import apply, get_eps, wait_condition

pytestmark = pytest.mark.node

HASH = "payloads.durable-workflow.io/content-hash"
KEY_VARIABLE = "DW_EXTERNAL_PAYLOAD_S3_ACCESS_KEY_ID"
DEADLINE = 240.0  # a resync (10 s), a rollout: a pod start and the old pod's end, on a busy machine


def consumer(node: NodeCluster, namespace: str, name: str, env_secret: str) -> dict[str, Any]:
    """A Deployment like a Durable Workflow worker: one pod of the node's image, the published Secret as env."""
    labels = {"app": name}
    container = {
        "name": "worker",
        "image": node.image,
        "imagePullPolicy": node.image_pull_policy,
        "command": ["python3", "-c", "import time; time.sleep(10**9)"],
        "envFrom": [{"secretRef": {"name": env_secret}}],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
            },
        },
    }


def access_key_in_pod(node: NodeCluster, namespace: str, app: str) -> tuple[str, str] | None:
    """(the only live pod's template hash, the access key its environment holds) once one pod is left and Ready."""
    live = [p for p in pods(node.cluster, namespace, f"app={app}") if not p["metadata"].get("deletionTimestamp")]
    if len(live) != 1 or not pod_ready(live[0]):
        return None
    pod = live[0]
    code, out = exec_in(node.cluster, namespace, pod["metadata"]["name"], "printenv", KEY_VARIABLE)
    if code != 0:
        return None
    return pod["metadata"]["annotations"].get(HASH, ""), out.strip()


def published(node: NodeCluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    path = f"/api/v1/namespaces/{namespace}/{kind}/{name}"
    found: dict[str, Any] = node.cluster.api("GET", path)
    return found


def test_a_deployment_consuming_the_server_env_secret_gets_new_pods_with_rotated_credentials(
    node: NodeCluster, release: Release, deploy: Deploy, dw: EmulatedServer, apps: str, moto_s3: S3Endpoint
) -> None:
    name, app = "rotated", "rotated-worker"
    target = s3_target(node, moto_s3, name)
    spec, credentials = s3_resource(target, name, apps)
    apply(node.cluster, consumer(node, apps, app, f"{name}-server-env"))
    deploy(name, credentials, publish={"restartDeployments": [app]}, **spec)
    body = wait_condition(node.cluster, apps, name, "Ready", "True", timeout=DEADLINE)

    first = body["status"]["published"]
    env_secret = published(node, apps, "secrets", f"{name}-server-env")
    policy = published(node, apps, "configmaps", f"{name}-policy")
    assert env_secret["metadata"]["annotations"][HASH] == first["serverEnvHash"]
    assert policy["metadata"]["annotations"][HASH] == first["policyHash"]
    assert first["restarted"] == [app]
    old_key = moto_s3.access_key
    assert wait_for(lambda: access_key_in_pod(node, apps, app), DEADLINE, message="a worker pod") == (
        first["contentHash"],
        old_key,
    )

    rotated = {"accessKeyId": "rotated-key-2", "secretAccessKey": moto_s3.secret_key}
    apply(node.cluster, secret_manifest(apps, credentials["metadata"]["name"], rotated))

    def rotated_hash() -> str | None:
        now = get_eps(node.cluster, apps, name)["status"].get("published") or {}
        return now.get("contentHash") if now.get("contentHash") != first["contentHash"] else None

    second = wait_for(rotated_hash, DEADLINE, message="the published content hash changed")
    assert (
        published(node, apps, "secrets", f"{name}-server-env")["metadata"]["annotations"][HASH]
        != first["serverEnvHash"]
    )
    assert (
        published(node, apps, "configmaps", f"{name}-policy")["metadata"]["annotations"][HASH] == first["policyHash"]
    )  # the policy did not change: its hash stays
    wait_for(
        lambda: access_key_in_pod(node, apps, app) == (second, "rotated-key-2"),
        DEADLINE,
        message="the worker restarted with the rotated access key",
    )
    # clean up as a user would: the resource first, then the Deployment it names (the other way round, the
    # resource rightly reports DeploymentRestartFailed on its next pass: later tests see every resource Ready)
    node.cluster.kubectl("delete", "eps", name, "-n", apps, "--wait=true", "--timeout=120s")
    node.cluster.api("DELETE", f"/apis/apps/v1/namespaces/{apps}/deployments/{app}")
