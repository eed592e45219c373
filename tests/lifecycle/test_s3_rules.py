"""S3 specifics: the transition-size setting is echoed, and on Ceph RGW the rule really expires
temporary objects while payload objects and foreign prefixes stay (RGW: one "day" is 10 s)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.stub import Stubber
from devkit.services import S3Endpoint
from devkit.waiting import wait_for

from payload_operator.adapters.bucket_rules.s3 import S3Rules
from payload_operator.reconcile.bucket_rules import sync_lifecycle
from tests.lifecycle.benches import S3Bench

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAYLOAD = "dw/avro/5e/5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"


def test_the_transition_size_default_read_is_written_back() -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    logs = {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 7}}
    with Stubber(client) as stub:
        stub.add_response(
            "get_bucket_lifecycle_configuration",
            {"Rules": [logs], "TransitionDefaultMinimumObjectSize": "varies_by_storage_class"},
        )
        store = S3Rules(client, "payload-bucket")
        snapshot = store.read()
        stub.add_response(
            "put_bucket_lifecycle_configuration",
            {},
            {
                "Bucket": "payload-bucket",
                "LifecycleConfiguration": {"Rules": [logs]},
                "TransitionDefaultMinimumObjectSize": "varies_by_storage_class",
            },
        )
        store.write(snapshot.rules, snapshot.token)
        stub.assert_no_pending_responses()


def test_rgw_expires_temporary_objects_and_keeps_payloads(rgw_s3: S3Endpoint) -> None:
    bench = S3Bench("rgw", rgw_s3)
    bench.put_raw([{"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}}])
    for key in ("dw/tmp/upload.json", PAYLOAD, "logs/app.log", "elsewhere/tmp/x"):
        bench.client.put_object(Bucket=bench.bucket, Key=key, Body=b"x")

    outcome = sync_lifecycle(bench.resource(lifecycle={"expirationDays": 1}), bench.store(), now=NOW)
    assert outcome.condition.reason == "RulesApplied"

    def present() -> set[str]:
        return {o["Key"] for o in bench.client.list_objects_v2(Bucket=bench.bucket).get("Contents", [])}

    wait_for(lambda: "dw/tmp/upload.json" not in present(), timeout=120, interval=1, message="tmp object never expired")
    # A second temporary object expiring proves another lifecycle pass ran over objects that are by
    # then older than one RGW day: a rule reaching further would have taken the payload with it.
    bench.client.put_object(Bucket=bench.bucket, Key="dw/tmp/second.json", Body=b"x")
    wait_for(lambda: "dw/tmp/second.json" not in present(), timeout=120, interval=1, message="second pass never ran")

    assert present() == {PAYLOAD, "logs/app.log", "elsewhere/tmp/x"}
