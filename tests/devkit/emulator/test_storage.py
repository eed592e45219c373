"""Storage status semantics (cluster-info discovery) and ``POST /api/storage/test`` (§6.3, §6.4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer

from .conftest import ServerFactory
from .helpers import Api

SIZES = {"small_payload_bytes": 16, "large_payload_bytes": 64}


def discovery(api: Api, namespace: str = "default") -> dict[str, Any]:
    block: dict[str, Any] = api.get("/api/cluster/info", role="worker", namespace=namespace, version=None).json()[
        "namespace"
    ]["external_payload_storage"]
    return block


def test_gen_a_discovery_is_optional(make_server: ServerFactory) -> None:
    srv = make_server(generation="A", discovery=False)
    api = Api(srv)
    try:
        body = api.get("/api/cluster/info").json()
        assert "namespace" not in body
        assert body["worker_protocol"]["version"] == "1.0"
    finally:
        api.close()


@pytest.mark.parametrize(
    ("policy", "status"),
    [
        (None, "unconfigured"),
        ({"driver": "local", "enabled": False}, "disabled"),
        ({"driver": "local"}, "available"),
        ({"driver": "s3", "config": {"bucket": "b", "disk": "external-payload-s3"}}, "available"),
        ({"driver": "s3", "config": {"bucket": "b"}}, "driver_unavailable"),  # no disk: Gen A builds no driver
        ({"driver": "s3", "config": {"disk": "external-payload-s3"}}, "driver_unavailable"),  # no bucket
        ({"driver": "s3", "config": {"bucket": "b", "disk": "s3"}}, "driver_unavailable"),  # no such disk
        ({"driver": "gcs", "config": {"bucket": "b", "disk": "external-payload-gcs"}}, "driver_unavailable"),
        ({"driver": "azure", "config": {"bucket": "b", "disk": "external-payload-azure"}}, "driver_unavailable"),
    ],
)
def test_gen_a_discovery_status(
    gen_a_refs: EmulatedServer, api_a_refs: Api, policy: dict[str, Any] | None, status: str
) -> None:
    if policy is not None:
        assert api_a_refs.put_policy("default", policy).status_code == 200
    block = discovery(api_a_refs)
    assert block["status"] == status
    assert block["schema"] == "durable-workflow.v2.external-payload-reference.v1"
    assert block["configured"] is (policy is not None)
    assert "config" not in block
    assert gen_a_refs.storage_status("default") == status


def test_gen_a_discovery_fields(api_a_refs: Api) -> None:
    policy = {"driver": "s3", "threshold_bytes": 512, "config": {"bucket": "b", "disk": "external-payload-s3"}}
    api_a_refs.put_policy("default", policy)
    assert discovery(api_a_refs) == {
        "schema": "durable-workflow.v2.external-payload-reference.v1",
        "version": 1,
        "configured": True,
        "enabled": True,
        "status": "available",
        "driver": "s3",
        "threshold_bytes": 512,
        "reference_uri_scheme": "s3",
        "supported_drivers": ["local", "s3", "gcs", "azure", "custom"],
        "custom_driver_configurable": True,
        "config_redacted": True,
    }


def test_gen_b_discovery_block_and_capability(api_b: Api) -> None:
    body = api_b.get("/api/cluster/info", role="worker", version=None).json()
    assert body["worker_protocol"]["server_capabilities"]["runtime_external_payload_transport"] is True
    block = body["namespace"]["external_payload_storage"]
    assert block["schema"] == "durable-workflow.v2.runtime-external-payload-reference.v1"
    assert block["status"] == "unconfigured"
    assert block["threshold_bytes"] == 2 * 1024 * 1024
    assert block["provider_details_exposed"] is False
    manifest = block["transport"]
    assert manifest["schema"] == "durable-workflow.v2.runtime-external-payload-transport.v1"
    assert manifest["upload"]["path"] == "/api/external-payloads/v1"
    assert manifest["fetch"]["path_template"] == "/api/external-payloads/v1/{referenceId}"
    assert manifest["retention"]["client_delete_supported"] is False
    assert "driver" not in block


def test_driver_switches(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    api_a_refs.put_policy("default", {"driver": "gcs", "config": {"bucket": "b", "disk": "external-payload-gcs"}})
    assert discovery(api_a_refs)["status"] == "driver_unavailable"
    gen_a_refs.drivers.set("gcs", True)
    assert discovery(api_a_refs)["status"] == "available"
    assert api_a_refs.post("/api/storage/test", json=SIZES).status_code == 200


@pytest.mark.parametrize(
    ("generation", "config", "passes"),
    [
        # Gen A builds a provider driver only from config.disk plus config.bucket (captured exchanges).
        ("A", {"bucket": "b"}, False),
        ("A", {"bucket": "b", "disk": "external-payload-s3"}, True),
        ("A", {"bucket": "b", "disk": "minio"}, True),  # a disk the server's configuration defines
        # Gen B uses its fixed external-payload-s3 disk for s3 without one (§8).
        ("B", {"bucket": "b"}, True),
        ("B", {"bucket": "b", "disk": "nope"}, False),
    ],
)
def test_s3_storage_test_needs_what_the_server_needs(
    make_server: ServerFactory, generation: str, config: dict[str, str], passes: bool
) -> None:
    srv = make_server(generation=generation)
    srv.drivers.add_disk("minio", "s3")
    api = Api(srv)
    try:
        assert api.put_policy("default", {"driver": "s3", "config": config}).status_code == 200
        response = api.post("/api/storage/test", json=SIZES)
        assert response.status_code == (200 if passes else 422)
        assert response.json()["status"] == ("passed" if passes else "failed")
    finally:
        api.close()


def test_storage_status_override(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    api_a_refs.put_policy("default", {"driver": "local"})
    gen_a_refs.faults.storage_status = "driver_unavailable"
    assert discovery(api_a_refs)["status"] == "driver_unavailable"
    response = api_a_refs.post("/api/storage/test", json=SIZES)
    assert response.status_code == 422
    assert response.json()["reason"] == "storage_driver_unavailable"
    gen_a_refs.faults.clear()
    assert api_a_refs.post("/api/storage/test", json=SIZES).status_code == 200


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        (None, "external_storage_not_configured"),
        ({"driver": "local", "enabled": False}, "external_storage_disabled"),
        ({"driver": "azure", "config": {"bucket": "b"}}, "storage_driver_unavailable"),
    ],
)
def test_storage_test_failures(api_a: Api, policy: dict[str, Any] | None, reason: str) -> None:
    if policy is not None:
        api_a.put_policy("default", policy)
    response = api_a.post("/api/storage/test", json=SIZES)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "failed"
    assert body["reason"] == reason
    assert body["namespace"] == "default"


def test_storage_test_driver_mismatch(api_a: Api) -> None:
    api_a.put_policy("default", {"driver": "local"})
    response = api_a.post("/api/storage/test", json={**SIZES, "driver": "s3"})
    assert response.status_code == 422
    assert response.json()["reason"] == "storage_driver_unavailable"
    assert response.json()["driver"] == "s3"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"small_payload_bytes": 0, "large_payload_bytes": 1}, "small_payload_bytes"),
        ({"small_payload_bytes": 1048577, "large_payload_bytes": 1}, "small_payload_bytes"),
        ({"small_payload_bytes": 1, "large_payload_bytes": 16777217}, "large_payload_bytes"),
        ({"small_payload_bytes": 1}, "large_payload_bytes"),
    ],
)
def test_storage_test_size_bounds(api_a: Api, body: dict[str, int], field: str) -> None:
    api_a.put_policy("default", {"driver": "local"})
    response = api_a.post("/api/storage/test", json=body)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]


def test_local_storage_test_writes_under_default_root(gen_a: EmulatedServer, api_a: Api) -> None:
    api_a.put_policy("default", {"driver": "local"})
    body = api_a.post("/api/storage/test", json=SIZES).json()
    uri = body["small_payload"]["reference_uri"]
    assert uri.startswith((gen_a.local_root / "default").as_uri())
    assert not gen_a.object_exists(uri)


def test_s3_storage_test_gen_b_returns_identity_hash(gen_b: EmulatedServer, api_b: Api) -> None:
    api_b.put_policy("default", {"driver": "s3", "config": {"bucket": "payloads", "prefix": "ns/default/"}})
    body = api_b.post("/api/storage/test", json=SIZES).json()
    assert body["status"] == "passed"
    assert set(body["small_payload"]) == {"status", "bytes", "sha256", "reference_identity_sha256"}
    assert gen_b.objects.uris() == []  # written, read, deleted


def test_storage_errors_make_the_test_fail(gen_a: EmulatedServer, api_a: Api) -> None:
    api_a.put_policy("default", {"driver": "local"})
    gen_a.faults.storage_errors = True
    response = api_a.post("/api/storage/test", json=SIZES)
    assert response.status_code == 500
    assert response.json() == {"message": "Server Error"}


def test_gen_b_driver_unavailable_carries_configuration_error(api_b: Api) -> None:
    api_b.put_policy("default", {"driver": "s3"})
    response = api_b.post("/api/storage/test", json=SIZES)
    assert response.status_code == 422
    body = response.json()
    assert body["configuration_error"] == "external_payload_storage_bucket_missing"
    assert body["supported_diagnostic_drivers"] == ["local", "s3", "gcs", "azure", "custom"]


def test_local_uri_root_is_used(gen_a: EmulatedServer, api_a: Api, tmp_path: Path) -> None:
    root = tmp_path / "store"
    api_a.put_policy("default", {"driver": "local", "config": {"uri": root.as_uri()}})
    envelope = gen_a.store_payload("default", "QUJD")
    uri = envelope["external_storage"]["uri"]
    sha = envelope["external_storage"]["sha256"]
    assert uri == (root / "avro" / sha[:2] / sha).as_uri()
    assert (root / "avro" / sha[:2] / sha).read_bytes() == b"QUJD"
