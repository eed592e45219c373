"""Configurations the captured Gen A server accepts, through the running operator.

That server builds a provider driver only from `config.disk` plus `config.bucket` (the captured
exchanges): an s3 resource is Ready only when the policy names a disk the server defines, and when it
does not, the condition says what the server needs. A local resource with a prefix is told that the
prefix is ignored, because the server and the SDK write `<path>/avro/` whatever it is.
"""

from __future__ import annotations

from typing import Any

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.waiting import wait_for
from kopf.testing import KopfRunner

from tests.e2e.conftest import (
    ADMIN_TOKEN,
    apply,
    condition,
    eps_manifest,
    events_for,
    secret_manifest,
    wait_condition,
)

S3 = {"bucket": "dw-payloads", "region": "eu-west-1"}


def server_block(dw: EmulatedServer, namespace: str, **extra: Any) -> dict[str, Any]:
    return {"url": dw.url, "tokenSecretRef": {"name": "dw-admin"}, "namespaces": [namespace], **extra}


def test_s3_on_gen_a_is_ready_only_with_a_disk_the_server_defines(
    crd: Cluster, operator: KopfRunner, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    apply(crd, secret_manifest(kube_namespace, "dw-admin", {"token": ADMIN_TOKEN}))
    apply(
        crd,
        eps_manifest(kube_namespace, "stock-disk", dw_server, driver="s3", local=None, s3=S3,
                     server=server_block(dw_server, "orders")),
        eps_manifest(kube_namespace, "own-disk", dw_server, driver="s3", local=None, s3=S3,
                     server=server_block(dw_server, "billing", storageDisk="payloads-minio")),
    )  # fmt: skip

    wait_condition(crd, kube_namespace, "stock-disk", "Ready", "True")
    assert dw_server.policy("orders") == {
        "driver": "s3",
        "enabled": True,
        "threshold_bytes": 4096,
        "config": {"disk": "external-payload-s3", "bucket": "dw-payloads", "region": "eu-west-1"},
    }
    body = wait_condition(crd, kube_namespace, "own-disk", "StorageReachable", "False", "StorageDriverUnavailable")
    message = condition(body, "StorageReachable")["message"]
    assert message.startswith("billing: HTTP 422 storage_driver_unavailable: The server can persist this storage")
    assert "not available in this runtime: the server builds its s3 driver only from a filesystem disk" in message
    assert "named 'payloads-minio'" in message
    assert "DW_EXTERNAL_PAYLOAD_S3_* variables of Secret own-disk-server-env" in message
    assert condition(body, "Ready")["status"] == "False"

    dw_server.drivers.add_disk("payloads-minio", "s3")  # the server operator defines the disk
    body = wait_condition(crd, kube_namespace, "own-disk", "Ready", "True", timeout=90)
    assert condition(body, "StorageReachable")["reason"] == "StorageTestPassed"


def test_a_local_prefix_is_said_to_be_ignored(
    crd: Cluster, operator: KopfRunner, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    apply(
        crd,
        secret_manifest(kube_namespace, "dw-admin", {"token": ADMIN_TOKEN}),
        eps_manifest(kube_namespace, "prefixed", dw_server, prefix="team/a"),
    )
    body = wait_condition(crd, kube_namespace, "prefixed", "Ready", "True")
    note = (
        "spec.prefix 'team/a' is ignored by the local driver: the server and the SDK write under"
        f" {dw_server.local_root}/avro/, where the operator looks too"
    )
    assert f"note: {note}" in condition(body, "PolicySynced")["message"]
    announced = wait_for(
        lambda: [e["message"] for e in events_for(crd, kube_namespace, "prefixed") if e["reason"] == "SpecNotHonoured"],
        30,
        message="a SpecNotHonoured Event",
    )
    assert announced == [note]
