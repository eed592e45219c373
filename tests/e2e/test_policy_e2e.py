"""Operator core, end to end: what a user sees with kubectl while the operator keeps policies true."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devkit.cluster import ApiError, Cluster
from devkit.dw_emulator import EmulatedServer, Tokens
from devkit.waiting import wait_for

from tests.e2e.conftest import (
    ADMIN_TOKEN,
    GROUP_PATH,
    apply,
    condition,
    dump,
    eps_manifest,
    events_for,
    get_eps,
    patch_spec,
    secret_manifest,
    wait_condition,
)

Deploy = Callable[..., dict[str, Any]]


def test_apply_makes_every_namespace_ready(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    deploy()
    body = wait_condition(crd, kube_namespace, "payloads", "Ready", "True")
    root_uri = dw_server.local_root.as_uri()
    for namespace in ("orders", "billing"):
        assert dw_server.policy(namespace) == {
            "driver": "local",
            "enabled": True,
            "threshold_bytes": 4096,
            "config": {"uri": root_uri},
        }
    entries = {e["name"]: e for e in body["status"]["namespaces"]}
    assert set(entries) == {"orders", "billing"}
    for entry in entries.values():
        assert entry["generation"] == "A"
        assert entry["storageStatus"] == "available"
        assert entry["policyInSync"] is True
        assert entry["lastSyncTime"]
        assert entry["driftCorrections"] == 0
    assert condition(body, "PolicySynced")["reason"] == "PolicyInSync"
    assert condition(body, "StorageReachable")["status"] == "True"
    table = crd.kubectl("get", "eps", "-n", kube_namespace).stdout
    assert "local" in table
    assert "True" in table
    assert str(dw_server.local_root) in table


def test_published_configmap_parses_with_the_real_sdk(deploy: Deploy, crd: Cluster, kube_namespace: str) -> None:
    from durable_workflow.external_storage import ExternalPayloadStoragePolicy, external_storage_driver_from_policy

    deploy()
    wait_condition(crd, kube_namespace, "payloads", "Ready", "True")
    configmap = crd.api("GET", f"/api/v1/namespaces/{kube_namespace}/configmaps/payloads-policy")
    assert configmap["metadata"]["ownerReferences"][0]["kind"] == "ExternalPayloadStorage"
    policy = ExternalPayloadStoragePolicy.from_dict(json.loads(configmap["data"]["policy.json"]))
    assert (policy.driver, policy.enabled, policy.threshold_bytes) == ("local", True, 4096)
    driver = external_storage_driver_from_policy(policy)
    uri = driver.put(b"hello", sha256="2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", codec="avro")
    assert uri.startswith("file://")


def test_edit_is_followed_by_the_server(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    deploy()
    wait_condition(crd, kube_namespace, "payloads", "Ready", "True")
    patch_spec(crd, kube_namespace, "payloads", {"thresholdBytes": 8192})
    wait_for(
        lambda: all(dw_server.policy(ns)["threshold_bytes"] == 8192 for ns in ("orders", "billing")),
        60,
        message="server follows the edit",
    )
    body = wait_condition(crd, kube_namespace, "payloads", "Ready", "True")
    assert all(e["driftCorrections"] == 0 for e in body["status"]["namespaces"]), "an edit is not drift"


def test_drift_on_the_server_is_put_back_counted_and_announced(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    deploy()
    wait_condition(crd, kube_namespace, "payloads", "Ready", "True")
    dw_server.set_policy("orders", {"driver": "local", "enabled": False, "threshold_bytes": 4096})
    wait_for(lambda: dw_server.policy("orders")["enabled"] is True, 30, message="drift repaired on resync")

    def counted() -> dict[str, Any] | None:
        entries = {e["name"]: e for e in get_eps(crd, kube_namespace, "payloads")["status"]["namespaces"]}
        return entries if entries["orders"]["driftCorrections"] == 1 else None

    entries = wait_for(counted, 60, message="drift counted in status")
    assert entries["billing"]["driftCorrections"] == 0
    wait_for(
        lambda: any(e["reason"] == "DriftRepaired" for e in events_for(crd, kube_namespace, "payloads")),
        60,
        message="DriftRepaired event",
    )


def test_observe_mode_reports_drift_and_writes_nothing(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    dw_server.set_policy("orders", {"driver": "local", "enabled": False, "threshold_bytes": 10})
    deploy(managementPolicy="Observe")
    body = wait_condition(crd, kube_namespace, "payloads", "PolicySynced", "False", "DriftDetected")
    assert "orders" in condition(body, "PolicySynced")["message"]
    assert dw_server.count(method="PUT") == 0
    assert dw_server.policy("orders")["enabled"] is False
    missing = crd.api("GET", f"/api/v1/namespaces/{kube_namespace}/configmaps", None)["items"]
    assert not [c for c in missing if c["metadata"]["name"] == "payloads-policy"], "Observe publishes nothing"


def test_server_outage_goes_false_without_hot_loop_and_recovers(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    deploy()
    wait_condition(crd, kube_namespace, "payloads", "Ready", "True")
    dw_server.faults.set(status=503)
    patch_spec(crd, kube_namespace, "payloads", {"thresholdBytes": 5000})
    body = wait_condition(crd, kube_namespace, "payloads", "PolicySynced", "False", "ServerFailure")
    assert condition(body, "Ready")["status"] == "False"

    # Each failed pass starts with GET /api/cluster/info for both namespaces at once: the gaps between
    # passes are the backoff. (Faulted answers are logged before namespace resolution, so group by time.)
    def pass_starts() -> list[float] | None:
        times = [r.timestamp for r in dw_server.requests.find(path="/api/cluster/info", status=503)]
        starts = [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > 0.3]
        return starts[-5:] if len(starts) >= 6 else None

    starts = wait_for(pass_starts, 40, message="five retries recorded")
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.7, f"retries must back off, not hot-loop: gaps {gaps}"
    assert max(gaps) >= 2.5, f"backoff must grow: gaps {gaps}"
    dw_server.faults.clear()
    wait_condition(crd, kube_namespace, "payloads", "Ready", "True", timeout=90)
    assert dw_server.policy("orders")["threshold_bytes"] == 5000

    dw_server.stop()
    patch_spec(crd, kube_namespace, "payloads", {"thresholdBytes": 6000})
    body = wait_condition(crd, kube_namespace, "payloads", "PolicySynced", "False", "ServerUnreachable")
    assert condition(body, "StorageReachable")["status"] == "Unknown"
    dw_server.start()
    wait_condition(crd, kube_namespace, "payloads", "Ready", "True", timeout=90)
    assert dw_server.policy("billing")["threshold_bytes"] == 6000


def test_semantic_errors_are_false_conditions(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    deploy("wrong-token", token="not-the-token")
    body = wait_condition(crd, kube_namespace, "wrong-token", "PolicySynced", "False", "Unauthorized")
    assert "401" in condition(body, "PolicySynced")["message"]

    deploy(
        "unknown-ns",
        server={
            "url": dw_server.url,
            "tokenSecretRef": {"name": "dw-admin"},
            "namespaces": ["nope"],
            "requestTimeoutSeconds": 2,
        },
    )
    wait_condition(crd, kube_namespace, "unknown-ns", "PolicySynced", "False", "NamespaceNotFound")

    deploy(
        "no-key",
        server={
            "url": dw_server.url,
            "tokenSecretRef": {"name": "dw-admin", "key": "absent"},
            "namespaces": ["orders"],
        },
    )
    wait_condition(crd, kube_namespace, "no-key", "PolicySynced", "False", "SecretKeyMissing")

    deploy("no-secret", server={"url": dw_server.url, "tokenSecretRef": {"name": "later"}, "namespaces": ["orders"]})
    wait_condition(crd, kube_namespace, "no-secret", "PolicySynced", "False", "SecretNotFound")
    apply(crd, secret_manifest(kube_namespace, "later", {"token": ADMIN_TOKEN}))
    wait_condition(crd, kube_namespace, "no-secret", "Ready", "True", timeout=90)


def test_storage_unavailable_is_reported(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    dw_server.faults.storage_status = "driver_unavailable"
    deploy()
    body = wait_condition(crd, kube_namespace, "payloads", "StorageReachable", "False", "StorageDriverUnavailable")
    assert condition(body, "PolicySynced")["status"] == "True"
    assert condition(body, "Ready")["reason"] == "StorageDriverUnavailable"


def test_delete_retain_leaves_policy_and_delete_disables_it(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    deploy("kept")
    wait_condition(crd, kube_namespace, "kept", "Ready", "True")
    crd.kubectl("delete", "eps", "kept", "-n", kube_namespace, "--wait=true", "--timeout=30s")
    assert dw_server.policy("orders")["enabled"] is True

    deploy("dropped", deletionPolicy="Delete")
    wait_condition(crd, kube_namespace, "dropped", "Ready", "True")
    crd.kubectl("delete", "eps", "dropped", "-n", kube_namespace, "--wait=true", "--timeout=30s")
    assert dw_server.policy("orders")["enabled"] is False
    assert dw_server.policy("billing")["enabled"] is False
    assert dw_server.policy("orders")["driver"] == "local", "the policy is disabled, not replaced"


def test_deleting_with_the_server_gone_is_released_after_bounded_retries(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    deploy("orphaned", deletionPolicy="Delete")
    wait_condition(crd, kube_namespace, "orphaned", "Ready", "True")
    dw_server.stop()
    crd.kubectl("delete", "eps", "orphaned", "-n", kube_namespace, "--wait=false")

    def gone() -> bool:
        try:
            crd.api("GET", f"{GROUP_PATH}/namespaces/{kube_namespace}/externalpayloadstorages/orphaned")
        except ApiError as exc:
            return exc.status == 404
        return False

    wait_for(gone, 60, message="finalizer released")
    assert any(e["reason"] == "DeletionIncomplete" for e in events_for(crd, kube_namespace, "orphaned"))


def test_s3_server_env_secret_is_published(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    apply(
        crd, secret_manifest(kube_namespace, "dw-s3", {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3cr3t-k3y"})
    )
    deploy(
        driver="s3",
        local=None,
        s3={
            "bucket": "dw-payloads",
            "endpoint": "http://127.0.0.1:9",
            "forcePathStyle": True,
            "credentialsSecretRef": {"name": "dw-s3"},
        },
    )
    wait_condition(crd, kube_namespace, "payloads", "PolicySynced", "True")
    secret = wait_for(lambda: _get_or_none(crd, f"/api/v1/namespaces/{kube_namespace}/secrets/payloads-server-env"), 60)
    import base64

    env = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert env["DW_EXTERNAL_PAYLOAD_S3_BUCKET"] == "dw-payloads"
    assert env["DW_EXTERNAL_PAYLOAD_S3_SECRET_ACCESS_KEY"] == "s3cr3t-k3y"
    assert env["DW_EXTERNAL_PAYLOAD_S3_USE_PATH_STYLE_ENDPOINT"] == "true"
    assert dw_server.policy("orders")["config"]["bucket"] == "dw-payloads"
    body = get_eps(crd, kube_namespace, "payloads")
    assert "s3cr3t-k3y" not in dump(body)
    assert "AKIAEXAMPLE" not in dump(body)


def test_invalid_spec_on_old_clusters_is_a_false_condition(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    deploy()
    wait_condition(crd, kube_namespace, "payloads", "Ready", "True")
    # CEL would refuse this on Kubernetes >= 1.25; 1.20 accepts it, so the operator must refuse it.
    patch_spec(crd, kube_namespace, "payloads", {"prefix": "moved/elsewhere"})
    body = wait_condition(crd, kube_namespace, "payloads", "PolicySynced", "False", "ImmutableFieldChanged")
    assert "spec.prefix is immutable" in condition(body, "PolicySynced")["message"]
    assert "prefix" not in dw_server.policy("orders").get("config", {})


def test_secrets_never_reach_status_events_or_logs(
    deploy: Deploy, crd: Cluster, kube_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    deploy("leaky", token=ADMIN_TOKEN + "-wrong")
    wait_condition(crd, kube_namespace, "leaky", "PolicySynced", "False", "Unauthorized")
    body = get_eps(crd, kube_namespace, "leaky")
    events = events_for(crd, kube_namespace, "leaky")
    assert caplog.text, "the operator's log lines are captured"
    for text in (dump(body["status"]), dump(events), caplog.text):
        assert ADMIN_TOKEN not in text


def _get_or_none(cluster: Cluster, path: str) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = cluster.api("GET", path)
    except ApiError:
        return None
    return result


def test_gen_b_server_and_a_server_without_discovery(
    crd: Cluster, operator: object, kube_namespace: str, tmp_path: Path
) -> None:
    """Generation is detected per server; a server without the storage discovery block (like the
    captured real one) is judged by the storage test alone."""
    tokens = Tokens(admin=ADMIN_TOKEN, operator="op-token", worker="wk-token")
    with (
        EmulatedServer(generation="B", tokens=tokens, namespaces=["orders"]) as gen_b,
        EmulatedServer(
            generation="A", tokens=tokens, namespaces=["orders"], discovery=False, local_root=tmp_path
        ) as plain,
    ):
        apply(crd, secret_manifest(kube_namespace, "dw-admin", {"token": ADMIN_TOKEN}))
        s3 = {"bucket": "dw-payloads", "region": "eu-west-1"}
        apply(
            crd,
            eps_manifest(
                kube_namespace,
                "gen-b",
                gen_b,
                driver="s3",
                local=None,
                s3=s3,
                server={"url": gen_b.url, "tokenSecretRef": {"name": "dw-admin"}, "namespaces": ["orders"]},
            ),
        )
        apply(
            crd,
            eps_manifest(
                kube_namespace,
                "no-discovery",
                plain,
                server={"url": plain.url, "tokenSecretRef": {"name": "dw-admin"}, "namespaces": ["orders"]},
            ),
        )
        body = wait_condition(crd, kube_namespace, "gen-b", "Ready", "True")
        assert body["status"]["namespaces"][0]["generation"] == "B"
        assert gen_b.policy("orders") == {
            "driver": "s3",
            "enabled": True,
            "threshold_bytes": 4096,
            "config": {"bucket": "dw-payloads", "region": "eu-west-1"},
        }
        body = wait_condition(crd, kube_namespace, "no-discovery", "Ready", "True")
        assert body["status"]["namespaces"][0]["generation"] == "A"
        assert condition(body, "StorageReachable")["reason"] == "StorageTestPassed"
        assert plain.count(method="POST", path="/api/storage/test") >= 1
