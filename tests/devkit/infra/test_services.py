"""The test infrastructure itself: each fixture starts a real server that does what later tests rely on."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from botocore.exceptions import ClientError
from devkit.cluster import ApiError, Cluster
from devkit.naming import unique_name
from devkit.services import AzuriteEndpoint, GcsEndpoint, S3Endpoint
from devkit.waiting import wait_for


# ---------------------------------------------------------------------------- S3
def _s3_roundtrip(endpoint: S3Endpoint) -> None:
    s3 = endpoint.client()
    bucket = unique_name("infra")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="x/avro/ab/abcdef", Body=b"payload-bytes")
    s3.put_object(Bucket=bucket, Key="other/key", Body=b"2")
    assert s3.get_object(Bucket=bucket, Key="x/avro/ab/abcdef")["Body"].read() == b"payload-bytes"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="x/")
    assert [o["Key"] for o in listed["Contents"]] == ["x/avro/ab/abcdef"]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x/avro/ab/abcdef"}, {"Key": "other/key"}]})
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    s3.delete_bucket(Bucket=bucket)


def test_moto_s3_bucket_and_object(moto_s3: S3Endpoint) -> None:
    _s3_roundtrip(moto_s3)


@pytest.mark.rgw
def test_rgw_s3_bucket_and_object(rgw_s3: S3Endpoint) -> None:
    _s3_roundtrip(rgw_s3)


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey"):
            return False
        raise
    return True


@pytest.mark.rgw
def test_rgw_enforces_lifecycle_expiration(rgw_s3: S3Endpoint) -> None:
    """RGW really expires objects: a Days=1 rule on x/tmp/ removes x/tmp/* (1 day = 10 s here) only."""
    s3 = rgw_s3.client()
    bucket = unique_name("lc")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="x/tmp/doomed", Body=b"tmp")
    s3.put_object(Bucket=bucket, Key="x/avro/ab/kept", Body=b"keep")
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [{"ID": "tmp-1d", "Filter": {"Prefix": "x/tmp/"}, "Status": "Enabled", "Expiration": {"Days": 1}}]
        },
    )
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in rules] == ["tmp-1d"]
    # RGW validates like AWS (moto does not): Days must be positive
    with pytest.raises(ClientError):
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [{"ID": "bad", "Filter": {"Prefix": "y/"}, "Status": "Enabled", "Expiration": {"Days": 0}}]
            },
        )

    wait_for(
        lambda: not _exists(s3, bucket, "x/tmp/doomed"),
        timeout=90,
        interval=1.0,
        message="RGW lifecycle never expired x/tmp/doomed",
    )
    assert _exists(s3, bucket, "x/avro/ab/kept")


# ---------------------------------------------------------------------------- Azure
def test_azurite_container_and_blob(azurite: AzuriteEndpoint) -> None:
    service = azurite.client()
    name = unique_name("infra")
    container = service.create_container(name)
    container.upload_blob("x/avro/ab/abcdef", b"payload-bytes")
    container.upload_blob("other/key", b"2")
    assert container.download_blob("x/avro/ab/abcdef").readall() == b"payload-bytes"
    assert [b.name for b in container.list_blobs(name_starts_with="x/")] == ["x/avro/ab/abcdef"]
    container.delete_blobs("x/avro/ab/abcdef", "other/key")
    assert list(container.list_blobs()) == []
    assert name in [c.name for c in service.list_containers()]
    service.delete_container(name)


# ---------------------------------------------------------------------------- GCS
def test_gcs_emulator_bucket_and_blob(gcs_emulator: GcsEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    # the documented client setup: STORAGE_EMULATOR_HOST + anonymous credentials
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    client = storage.Client(project=gcs_emulator.project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    name = unique_name("infra")
    bucket = client.create_bucket(name)
    bucket.blob("x/avro/ab/abcdef").upload_from_string(b"payload-bytes")
    bucket.blob("other/key").upload_from_string(b"2")
    assert bucket.blob("x/avro/ab/abcdef").download_as_bytes() == b"payload-bytes"
    assert [b.name for b in client.list_blobs(name, prefix="x/")] == ["x/avro/ab/abcdef"]

    # the env-free client from the endpoint sees the same data
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    other = gcs_emulator.client()
    assert other.bucket(name).blob("x/avro/ab/abcdef").download_as_bytes() == b"payload-bytes"
    for blob in other.list_blobs(name):
        blob.delete()
    other.bucket(name).delete()


# ---------------------------------------------------------------------------- Kubernetes
def _crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                },
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
    }


# A fixed group, applied idempotently and never deleted: removing a CRD stalls the 1.20 garbage
# collector for ~30 s (its monitor for the vanished resource cannot sync), which would slow every
# other test in the session that relies on GC.
INFRA_GROUP = "infra.payload-operator.test"


@pytest.mark.cluster
def test_cluster_crd_and_custom_resource(kube_cluster: Cluster, kube_namespace: str) -> None:
    group = INFRA_GROUP
    kube_cluster.kubectl("apply", "-f", "-", input=json.dumps(_crd(group)))
    kube_cluster.wait_established(f"widgets.{group}")
    cr = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    kube_cluster.kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(cr))
    got = json.loads(kube_cluster.kubectl("get", f"widgets.{group}", "w1", "-n", kube_namespace, "-o", "json").stdout)
    assert got["spec"] == {"size": 3}
    assert got["metadata"]["uid"]

    # status subresource and schema validation are real
    path = f"/apis/{group}/v1/namespaces/{kube_namespace}/widgets"
    kube_cluster.api(
        "PATCH", f"{path}/w1/status", {"status": {"phase": "Ready"}}, content_type="application/merge-patch+json"
    )
    assert kube_cluster.api("GET", f"{path}/w1")["status"] == {"phase": "Ready"}
    bad = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "bad"}, "spec": {"size": 0}}
    with pytest.raises(ApiError) as err:
        kube_cluster.api("POST", path, bad)
    assert err.value.status == 422

    # a finalizer nobody removes: the kube_namespace teardown must still clean up (it drops finalizers)
    kube_cluster.api(
        "PATCH",
        f"{path}/w1",
        {"metadata": {"finalizers": ["infra.payload-operator.test/hold"]}},
        content_type="application/merge-patch+json",
    )


@pytest.mark.cluster
def test_cluster_namespace_deletion_and_garbage_collection(kube_cluster: Cluster) -> None:
    ns = unique_name("infra-ns")
    kube_cluster.kubectl("create", "namespace", ns)
    owner = kube_cluster.api(
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}},
    )
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    kube_cluster.api(
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "ownerReferences": [ref]}},
    )
    # the serviceaccount controller runs: every namespace gets its default ServiceAccount
    wait_for(lambda: kube_cluster.exists(f"/api/v1/namespaces/{ns}/serviceaccounts/default"), timeout=30)

    kube_cluster.api("DELETE", f"/api/v1/namespaces/{ns}/configmaps/owner")
    wait_for(
        lambda: not kube_cluster.exists(f"/api/v1/namespaces/{ns}/configmaps/owned"),
        timeout=30,
        message="garbage collector did not delete the owned ConfigMap",
    )

    kube_cluster.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(
        lambda: not kube_cluster.exists(f"/api/v1/namespaces/{ns}"),
        timeout=60,
        message=f"namespace {ns} was never finalized",
    )


def _can_i(cluster: Cluster, kubeconfig: str, *args: str) -> str:
    proc = subprocess.run(
        [cluster.kubectl_bin, f"--kubeconfig={kubeconfig}", "auth", "can-i", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return proc.stdout.strip()


@pytest.mark.cluster
def test_cluster_rbac_for_users_and_serviceaccounts(kube_cluster: Cluster, kube_namespace: str) -> None:
    ns = kube_namespace
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "cm-reader", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "cm-reader", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [
            {"kind": "Group", "name": "readers", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "ServiceAccount", "name": "op", "namespace": ns},
        ],
    }
    kube_cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]})
    )

    reader = str(kube_cluster.user_kubeconfig("alice", ["readers"], namespace=ns))
    outsider = str(kube_cluster.user_kubeconfig("mallory", ["others"], namespace=ns))
    sa = str(kube_cluster.serviceaccount_kubeconfig(ns, "op"))

    assert _can_i(kube_cluster, reader, "list", "configmaps", "-n", ns) == "yes"
    assert _can_i(kube_cluster, reader, "delete", "configmaps", "-n", ns) == "no"
    assert _can_i(kube_cluster, outsider, "list", "configmaps", "-n", ns) == "no"
    assert _can_i(kube_cluster, sa, "list", "configmaps", "-n", ns) == "yes"
    assert _can_i(kube_cluster, sa, "list", "secrets", "-n", ns) == "no"
    assert _can_i(kube_cluster, sa, "list", "configmaps", "-n", "default") == "no"
