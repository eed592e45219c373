"""The policy body the server gets, how drift is recognised, and what workers and servers receive."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.api.status import ServerGeneration
from payload_operator.planning import policy

SERVER = {"url": "https://dw.example", "tokenSecretRef": {"name": "dw"}, "namespaces": ["orders"]}


def spec(**overrides: Any) -> ExternalPayloadStorageSpec:
    base: dict[str, Any] = {"server": SERVER, "driver": "s3", "s3": {"bucket": "dw-payloads"}}
    return ExternalPayloadStorageSpec.model_validate(base | overrides)


def test_s3_policy_is_complete_and_credential_free() -> None:
    s = spec(s3={"bucket": "dw-payloads", "credentialsSecretRef": {"name": "creds"}}, prefix="namespaces/orders")
    body = policy.desired_policy(s, ServerGeneration.A)
    assert body == {
        "driver": "s3",
        "enabled": True,
        "threshold_bytes": 2097152,
        "config": {
            "disk": "external-payload-s3",
            "bucket": "dw-payloads",
            "region": "us-east-1",
            "prefix": "namespaces/orders",
        },
    }
    assert "creds" not in json.dumps(body)


@pytest.mark.parametrize(
    ("driver", "generation", "disk"),
    [
        # Gen A builds a provider driver only from config.disk plus config.bucket (captured exchanges).
        ("s3", ServerGeneration.A, "external-payload-s3"),
        ("gcs", ServerGeneration.A, "external-payload-gcs"),
        ("azure", ServerGeneration.A, "external-payload-azure"),
        # Gen B: s3 without a disk uses the fixed external-payload-s3 disk; gcs and azure need one (§8).
        ("s3", ServerGeneration.B, None),
        ("gcs", ServerGeneration.B, "external-payload-gcs"),
        ("azure", ServerGeneration.B, "external-payload-azure"),
        ("local", ServerGeneration.A, None),
        ("local", ServerGeneration.B, None),
    ],
)
def test_each_generation_gets_the_disk_it_needs(driver: str, generation: ServerGeneration, disk: str | None) -> None:
    blocks = {
        "s3": {"bucket": "dw-payloads"},
        "gcs": {"bucket": "dw-payloads"},
        "azure": {"container": "dw-payloads", "accountUrl": "https://a.blob.core.windows.net"},
        "local": {"path": "/var/lib/dw"},
    }
    s = spec(**({"driver": driver, "s3": None} | {driver: blocks[driver]}))
    assert policy.desired_policy(s, generation)["config"].get("disk") == disk


def test_spec_names_the_disk() -> None:
    s = spec(server=SERVER | {"storageDisk": "payloads-minio"})
    assert policy.desired_policy(s, ServerGeneration.A)["config"]["disk"] == "payloads-minio"
    assert policy.desired_policy(s, ServerGeneration.B)["config"]["disk"] == "payloads-minio"


def test_driver_unavailable_remedy_names_disk_and_env_secret() -> None:
    gen_a = policy.driver_unavailable_remedy(spec(), ServerGeneration.A, "payloads-server-env")
    assert "'external-payload-s3'" in gen_a
    assert "spec.server.storageDisk" in gen_a
    assert "DW_EXTERNAL_PAYLOAD_S3_*" in gen_a
    assert "payloads-server-env" in gen_a
    gen_b = policy.driver_unavailable_remedy(spec(), ServerGeneration.B, "payloads-server-env")
    assert "fixed disk external-payload-s3" in gen_b
    assert "payloads-server-env" in gen_b
    gcs = spec(driver="gcs", s3=None, gcs={"bucket": "dw-payloads"})
    assert "'external-payload-gcs'" in policy.driver_unavailable_remedy(gcs, ServerGeneration.B, "x")


def test_local_prefix_is_noted_as_ignored() -> None:
    local = spec(driver="local", s3=None, local={"path": "/var/lib/dw"}, prefix="team/a")
    [note] = policy.spec_notes(local)
    assert "ignored by the local driver" in note
    assert "/var/lib/dw/avro/" in note
    assert local.key_prefix == ""
    assert spec(prefix="team/a").key_prefix == "team/a"
    assert policy.spec_notes(spec(prefix="team/a")) == []


def test_gen_a_never_gets_keys_it_would_drop() -> None:
    s = spec(
        driver="azure", s3=None, azure={"container": "dw-payloads", "accountUrl": "https://a.blob.core.windows.net"}
    )
    gen_a = policy.desired_policy(s, ServerGeneration.A)
    gen_b = policy.desired_policy(s, ServerGeneration.B)
    assert gen_a["driver"] == gen_b["driver"] == "azure"  # never azure-blob: the server refuses it
    assert gen_a["config"] == {"disk": "external-payload-azure", "bucket": "dw-payloads"}
    assert gen_b["config"] == {"disk": "external-payload-azure", "container": "dw-payloads", "scheme": "azure-blob"}


def test_gcs_carries_the_sdk_scheme_on_servers_that_know_it() -> None:
    s = spec(driver="gcs", s3=None, gcs={"bucket": "dw-payloads"})
    assert policy.desired_policy(s, ServerGeneration.B)["config"]["scheme"] == "gs"


def test_local_policy_names_the_workers_root() -> None:
    s = spec(driver="local", s3=None, local={"path": "/var/lib/dw payloads"})
    assert policy.desired_policy(s, ServerGeneration.A)["config"] == {"uri": "file:///var/lib/dw%20payloads"}


def test_server_echo_with_slashes_and_empty_values_is_not_drift() -> None:
    desired = policy.desired_policy(spec(prefix="a/b"), ServerGeneration.A)
    echoed = {
        "driver": "S3",
        "enabled": True,
        "threshold_bytes": 2097152,
        "config": {
            "disk": "external-payload-s3",
            "bucket": "dw-payloads",
            "region": "us-east-1",
            "prefix": "a/b/",
            "endpoint": None,
        },
    }
    assert policy.policy_differences(desired, echoed) == []


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        (None, ["no policy set"]),
        (
            {
                "driver": "local",
                "enabled": True,
                "threshold_bytes": 2097152,
                "config": {"disk": "external-payload-s3", "bucket": "dw-payloads", "region": "us-east-1"},
            },
            ["driver is 'local', want 's3'"],
        ),
        (
            {"driver": "s3", "enabled": False, "threshold_bytes": 2097152, "config": {"bucket": "dw-payloads"}},
            [
                "enabled is False, want True",
                "config.disk is None, want 'external-payload-s3'",
                "config.region is None, want 'us-east-1'",
            ],
        ),
    ],
)
def test_differences_are_named(observed: Any, expected: list[str]) -> None:
    desired = policy.desired_policy(spec(), ServerGeneration.A)
    assert policy.policy_differences(desired, observed) == expected


def test_generation_detection() -> None:
    gen_b = {"namespace": {"external_payload_storage": {"transport": {"schema": policy.RUNTIME_TRANSPORT_SCHEMA}}}}
    assert policy.detect_generation(gen_b) == ServerGeneration.B
    flagged = {"worker_protocol": {"server_capabilities": {"runtime_external_payload_transport": True}}}
    assert policy.detect_generation(flagged) == ServerGeneration.B
    assert policy.detect_generation({"server_id": "x", "worker_protocol": {"version": "1.0"}}) == ServerGeneration.A


def test_worker_policy_parses_with_the_real_sdk() -> None:
    from durable_workflow.external_storage import ExternalPayloadStoragePolicy

    s = spec(prefix="namespaces/orders", thresholdBytes=4096, integrityRequired=False)
    parsed = ExternalPayloadStoragePolicy.from_dict(json.loads(policy.worker_policy_document(s)))
    assert parsed.driver == "s3"
    assert parsed.enabled is True
    assert parsed.threshold_bytes == 4096
    assert parsed.integrity_required is False
    assert parsed.config["bucket"] == "dw-payloads"


def test_server_env_for_s3_only() -> None:
    s = spec(s3={"bucket": "dw-payloads", "endpoint": "http://rgw:7480", "forcePathStyle": True})
    env = policy.server_env(s, {"accessKeyId": "AK", "secretAccessKey": "SK"})
    assert env == {
        "DW_EXTERNAL_PAYLOAD_S3_BUCKET": "dw-payloads",
        "DW_EXTERNAL_PAYLOAD_S3_REGION": "us-east-1",
        "DW_EXTERNAL_PAYLOAD_S3_USE_PATH_STYLE_ENDPOINT": "true",
        "DW_EXTERNAL_PAYLOAD_S3_ENDPOINT": "http://rgw:7480",
        "DW_EXTERNAL_PAYLOAD_S3_ACCESS_KEY_ID": "AK",
        "DW_EXTERNAL_PAYLOAD_S3_SECRET_ACCESS_KEY": "SK",
    }
    assert policy.server_env(spec(driver="local", s3=None, local={"path": "/x"}), {}) == {}


def test_storage_probe_goes_just_over_the_threshold() -> None:
    assert policy.storage_test_sizes(spec(thresholdBytes=4096)) == (1024, 4097)
    assert policy.storage_test_sizes(spec(thresholdBytes=1 << 30))[1] == 16 * 1024 * 1024
