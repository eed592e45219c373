"""The operator's Kubernetes client on the real API server: a rotated token file, no certificate files
left behind, owned objects written by server-side apply."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from devkit.cluster import Cluster

from payload_operator.adapters import kube_login
from payload_operator.adapters.kube import FIELD_MANAGER, KubeClient, ObjectNotOwned
from tests.support.sa_tokens import issue_token, revoke, token_file_kubeconfig, write_token


def _client(kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> KubeClient:
    """The client as the operator builds it, logged in from `kubeconfig`."""
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    credentials = kube_login.login(kopf.OperatorSettings())
    assert credentials is not None
    return KubeClient.from_connection(credentials.connection, token_file=credentials.token_file)


async def test_the_client_follows_a_rotated_token_file(
    kube_cluster: Cluster, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{kube_namespace}"
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}
    kube_cluster.api("POST", f"{rbac}/roles", {"metadata": {"name": "lister"}, "rules": [rule]})
    kube_cluster.api(
        "POST",
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": "rotator-lists"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lister"},
            "subjects": [{"kind": "ServiceAccount", "name": "rotator", "namespace": kube_namespace}],
        },
    )
    first_secret, first = issue_token(kube_cluster, kube_namespace, "rotator")
    token_file = tmp_path / "token"
    write_token(token_file, first)
    kube = _client(token_file_kubeconfig(kube_cluster, "rotator", token_file), monkeypatch)
    try:
        assert await kube.list("v1", "configmaps", kube_namespace, "a=b") == []

        second_secret, second = issue_token(kube_cluster, kube_namespace, "rotator")
        write_token(token_file, second)  # the kubelet's rotation: a new file in place of the old
        revoke(kube_cluster, kube_namespace, first_secret, first)
        assert await kube.list("v1", "configmaps", kube_namespace, "a=b") == [], "the new token is read"

        # rotated again within the file's timestamp: same inode, size and mtime, so only the 401 tells
        _, third = issue_token(kube_cluster, kube_namespace, "rotator")
        stat = token_file.stat()
        assert len(third) == len(second)
        token_file.write_text(third)
        os.utime(token_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        revoke(kube_cluster, kube_namespace, second_secret, second)
        assert await kube.list("v1", "configmaps", kube_namespace, "a=b") == [], "re-read after the 401"
    finally:
        await kube.aclose()


async def test_inline_client_certificates_leave_no_file(
    kube_cluster: Cluster, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = kube_cluster.user_kubeconfig("cert-user", ["system:masters"])
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    kube = _client(kubeconfig, monkeypatch)
    try:
        assert list(scratch.iterdir()) == [], "the key was loaded and its file removed at once"
        assert await kube.list("v1", "configmaps", kube_namespace, "a=b") == [], "authenticated by the cert"
        assert list(scratch.iterdir()) == []
    finally:
        await kube.aclose()
    assert list(scratch.iterdir()) == []


@contextlib.asynccontextmanager
async def _admin(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[KubeClient]:
    kube = _client(cluster.kubeconfig, monkeypatch)
    try:
        yield kube
    finally:
        await kube.aclose()


def _owned_configmap(namespace: str, owner: dict[str, Any], data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "published",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "payload-operator"},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            ],
        },
        "data": data,
    }


async def test_owned_objects_are_written_by_server_side_apply(
    kube_cluster: Cluster, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = kube_cluster.api("POST", f"/api/v1/namespaces/{kube_namespace}/configmaps", {"metadata": {"name": "owner"}})
    path = f"/api/v1/namespaces/{kube_namespace}/configmaps/published"
    async with _admin(kube_cluster, monkeypatch) as kube:
        assert await kube.apply_owned(_owned_configmap(kube_namespace, owner, {"A": "1", "B": "2"}))
        written = kube_cluster.api("GET", path)
        managers = {(e["manager"], e["operation"]) for e in written["metadata"]["managedFields"]}
        assert managers == {(FIELD_MANAGER, "Apply")}, "created by apply, every field ours"

        kube_cluster.kubectl("label", "configmap", "published", "-n", kube_namespace, "team=payments")
        version = kube_cluster.api("GET", path)["metadata"]["resourceVersion"]
        assert not await kube.apply_owned(_owned_configmap(kube_namespace, owner, {"A": "1", "B": "2"}))
        assert kube_cluster.api("GET", path)["metadata"]["resourceVersion"] == version, "nothing to write, no write"

        assert await kube.apply_owned(_owned_configmap(kube_namespace, owner, {"A": "1"}))
    written = kube_cluster.api("GET", path)
    assert written["data"] == {"A": "1"}, "a key no longer published is gone (a merge patch kept it)"
    assert written["metadata"]["labels"]["team"] == "payments", "someone else's label stays"


async def test_a_same_named_object_of_someone_else_is_not_applied_to(
    kube_cluster: Cluster, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = kube_cluster.api("POST", f"/api/v1/namespaces/{kube_namespace}/configmaps", {"metadata": {"name": "owner"}})
    theirs = {"metadata": {"name": "published"}, "data": {"theirs": "yes"}}
    kube_cluster.api("POST", f"/api/v1/namespaces/{kube_namespace}/configmaps", theirs)

    async with _admin(kube_cluster, monkeypatch) as kube:
        with pytest.raises(ObjectNotOwned):
            await kube.apply_owned(_owned_configmap(kube_namespace, owner, {"A": "1"}))
    written = kube_cluster.api("GET", f"/api/v1/namespaces/{kube_namespace}/configmaps/published")
    assert written["data"] == {"theirs": "yes"}
    assert FIELD_MANAGER not in {e["manager"] for e in written["metadata"]["managedFields"]}
