"""The emulated ``s3`` driver can write into a real S3 API (here: moto in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer, S3ClientObjectStore

from .helpers import Api

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")


@pytest.fixture
def s3_client() -> Iterator[Any]:
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        client.create_bucket(Bucket="payloads")
        yield client


def test_s3_driver_writes_into_the_client_bucket(gen_a: EmulatedServer, api_a: Api, s3_client: Any) -> None:
    gen_a.set_object_store("s3", S3ClientObjectStore(s3_client))
    policy = {
        "driver": "s3",
        "threshold_bytes": 64,
        "config": {"bucket": "payloads", "prefix": "/ns/default/", "disk": "external-payload-s3"},
    }
    assert api_a.put_policy("default", policy).status_code == 200
    sizes = {"small_payload_bytes": 10, "large_payload_bytes": 20}
    assert api_a.post("/api/storage/test", json=sizes).json()["status"] == "passed"
    envelope = gen_a.store_payload("default", "QUJDRA==")
    reference = envelope["external_storage"]
    sha = reference["sha256"]
    assert reference["uri"] == f"s3://payloads/ns/default/avro/{sha[:2]}/{sha}"
    key = f"ns/default/avro/{sha[:2]}/{sha}"
    assert s3_client.get_object(Bucket="payloads", Key=key)["Body"].read() == b"QUJDRA=="
    assert gen_a.object_exists(reference["uri"])
    listed = s3_client.list_objects_v2(Bucket="payloads").get("Contents", [])
    assert [o["Key"] for o in listed] == [key]  # the storage test cleaned up after itself
