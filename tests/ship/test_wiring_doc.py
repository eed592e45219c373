"""docs/wiring.md shows what the operator publishes and a worker snippet: both must stay true.

The JSON is what the operator writes for the example resource; the Python snippet runs as printed (only the
mount path is pointed at a temporary file) with the real SDK, and stores a payload through the driver it builds.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.planning.policy import worker_policy_document

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "wiring.md"
MOUNTED = "/etc/durable-workflow/payloads/policy.json"


def _block(language: str) -> str:
    found = re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), re.M | re.S)
    assert len(found) == 1, f"expected one {language} block in {DOC.name}"
    return str(found[0])


def _example_spec() -> ExternalPayloadStorageSpec:
    docs = yaml.safe_load_all((REPO / "examples" / "s3" / "externalpayloadstorage.yaml").read_text())
    body = next(d for d in docs if d and d.get("kind") == "ExternalPayloadStorage")
    return ExternalPayloadStorageSpec.model_validate(body["spec"])


def test_the_documented_policy_is_what_the_operator_publishes() -> None:
    assert json.loads(_block("json")) == json.loads(worker_policy_document(_example_spec()))


def test_the_worker_snippet_builds_a_working_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(_block("json"))
    code = _block("python")
    assert MOUNTED in code
    for name, value in {
        "DW_EXTERNAL_PAYLOAD_S3_REGION": "eu-west-1",
        "DW_EXTERNAL_PAYLOAD_S3_USE_PATH_STYLE_ENDPOINT": "false",
        "DW_EXTERNAL_PAYLOAD_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "DW_EXTERNAL_PAYLOAD_S3_SECRET_ACCESS_KEY": "example-secret",
        "DW_SERVER_URL": "https://dw.example.internal",
        "DW_TOKEN": "worker-token",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DW_EXTERNAL_PAYLOAD_S3_ENDPOINT", raising=False)
    monkeypatch.delenv("DW_EXTERNAL_PAYLOAD_S3_SESSION_TOKEN", raising=False)
    with mock_aws():
        scope: dict[str, Any] = {}
        exec(compile(code.replace(MOUNTED, str(policy_file)), str(DOC), "exec"), scope)
        storage = scope["client"].external_storage
        assert (storage.bucket, storage.prefix) == ("dw-payloads-example", "durable-workflow")
        assert scope["client"].external_storage_threshold_bytes == 2097152
        scope["s3"].create_bucket(
            Bucket="dw-payloads-example", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        data = b"a large payload"
        uri = storage.put(data, sha256=hashlib.sha256(data).hexdigest(), codec="avro")
        assert "/durable-workflow/avro/" in uri
        assert storage.get(uri) == data
