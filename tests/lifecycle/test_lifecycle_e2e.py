"""Lifecycle through the running operator: owned rules appear beside foreign ones, drift is repaired,
and deletion with deletionPolicy Delete removes only ours."""

from __future__ import annotations

from typing import Any

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.naming import unique_name
from devkit.services import S3Endpoint
from devkit.waiting import wait_for

from tests.e2e.conftest import (
    ADMIN_TOKEN,
    apply,
    condition,
    eps_manifest,
    get_eps,
    patch_spec,
    secret_manifest,
    wait_condition,
)

FOREIGN = [
    {"ID": "logs-expire", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}},
    {"ID": "cirrus-tmp", "Filter": {"Prefix": "cirrus/tmp/"}, "Status": "Enabled", "Expiration": {"Days": 10}},
]


def _rules(client: Any, bucket: str) -> list[dict[str, Any]]:
    return list(client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"])


def test_operator_keeps_foreign_rules_and_owns_its_own(
    crd: Cluster, operator: object, kube_namespace: str, dw_server: EmulatedServer, moto_s3: S3Endpoint
) -> None:
    client = moto_s3.client()
    bucket = unique_name("lc")
    client.create_bucket(Bucket=bucket)
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": FOREIGN})
    foreign_before = _rules(client, bucket)
    apply(
        crd,
        secret_manifest(kube_namespace, "dw-admin", {"token": ADMIN_TOKEN}),
        secret_manifest(
            kube_namespace, "dw-s3", {"accessKeyId": moto_s3.access_key, "secretAccessKey": moto_s3.secret_key}
        ),
        eps_manifest(
            kube_namespace,
            "payloads",
            dw_server,
            driver="s3",
            local=None,
            prefix="dw",
            s3={
                "bucket": bucket,
                "endpoint": moto_s3.url,
                "forcePathStyle": True,
                "region": moto_s3.region,
                "credentialsSecretRef": {"name": "dw-s3"},
            },
            lifecycle={"tmpPrefixes": ["tmp/"], "expirationDays": 7},
            deletionPolicy="Delete",
        ),
    )
    body = wait_condition(crd, kube_namespace, "payloads", "LifecycleSynced", "True", timeout=60)
    assert "1 owned rule" in condition(body, "LifecycleSynced")["message"]
    assert "2 foreign rules preserved" in condition(body, "LifecycleSynced")["message"]
    assert condition(body, "Ready")["status"] == "True"
    owned_ids = body["status"]["lifecycle"]["ownedRuleIds"]
    assert body["status"]["lifecycle"]["foreignRuleCount"] == 2
    rules = {r.get("ID"): r for r in _rules(client, bucket)}
    assert [rules[r["ID"]] for r in foreign_before] == foreign_before, "foreign rules untouched"
    (owned,) = [rules[i] for i in owned_ids]
    assert owned["Filter"]["Prefix"] == "dw/tmp/"
    assert owned["Expiration"]["Days"] == 7

    # Someone deletes our rule by hand: the next resync puts it back and counts it.
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": foreign_before})
    wait_for(lambda: any(r.get("ID") in owned_ids for r in _rules(client, bucket)), 40, message="rule restored")
    wait_for(
        lambda: get_eps(crd, kube_namespace, "payloads")["status"]["lifecycle"].get("driftRepairs", 0) >= 1,
        60,
        message="repair counted",
    )

    patch_spec(crd, kube_namespace, "payloads", {"lifecycle": {"expirationDays": 3}})
    wait_for(
        lambda: next(r for r in _rules(client, bucket) if r.get("ID") in owned_ids)["Expiration"]["Days"] == 3,
        30,
        message="edit followed",
    )

    crd.kubectl("delete", "eps", "payloads", "-n", kube_namespace, "--wait=true", "--timeout=60s")
    assert _rules(client, bucket) == foreign_before, "deletion removes only our rule"
