"""Gen B runtime transport ``/api/external-payloads/v1`` (§6.5) and upload cleanup (§6.7)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from devkit.dw_emulator import EmulatedServer

from .helpers import Api

DATA = b"wwHioz3/" + b"Z" * 1000
ERROR_SCHEMA = "durable-workflow.v2.runtime-external-payload-error.v1"


def meta_headers(data: bytes, *, size: int | None = None, sha: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/octet-stream",
        "X-Durable-Workflow-Payload-Codec": "avro",
        "X-Durable-Workflow-Payload-Size": str(len(data) if size is None else size),
        "X-Durable-Workflow-Payload-SHA256": sha or hashlib.sha256(data).hexdigest(),
    }


def upload(api: Api, data: bytes = DATA, role: str = "worker", **kwargs: Any) -> httpx.Response:
    return api.post(
        "/api/external-payloads/v1", role=role, version=None, content=data, headers=meta_headers(data, **kwargs)
    )


def fetch(api: Api, reference: dict[str, Any], namespace: str = "default") -> httpx.Response:
    headers = {
        "X-Durable-Workflow-Payload-Codec": reference["codec"],
        "X-Durable-Workflow-Payload-Size": str(reference["size_bytes"]),
        "X-Durable-Workflow-Payload-SHA256": reference["sha256"],
    }
    return api.get(
        f"/api/external-payloads/v1/{reference['reference_id']}",
        role="worker",
        version=None,
        namespace=namespace,
        headers=headers,
    )


def assert_error(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["schema"] == ERROR_SCHEMA
    assert body["reason"] == reason
    assert body["status"] == status
    assert set(body) == {"schema", "reason", "message", "retryable", "status"}


@pytest.fixture
def local_b(gen_b: EmulatedServer, api_b: Api) -> Api:
    assert api_b.put_policy("default", {"driver": "local", "threshold_bytes": 256}).status_code == 200
    return api_b


def test_upload_and_fetch_round_trip(gen_b: EmulatedServer, local_b: Api) -> None:
    response = upload(local_b)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store, private"
    body = response.json()
    assert body["schema"] == "durable-workflow.v2.runtime-external-payload-upload.v1"
    assert body["transport_version"] == 1
    reference = body["reference"]
    assert set(reference) == {"schema", "reference_id", "codec", "size_bytes", "sha256"}
    fetched = fetch(local_b, reference)
    assert fetched.status_code == 200
    assert fetched.content == DATA
    assert fetched.headers["Content-Type"] == "application/octet-stream"
    assert fetched.headers["X-Durable-Workflow-Payload-SHA256"] == reference["sha256"]
    assert fetched.headers["ETag"] == f'"sha256:{reference["sha256"]}"'
    assert fetched.headers["Cache-Control"] == "private, max-age=60, immutable"
    # idempotent per namespace and content
    assert upload(local_b, role="operator").json()["reference"]["reference_id"] == reference["reference_id"]
    [row] = gen_b.uploads("default")
    assert row.retained_at is None
    assert gen_b.read_object(row.uri) == DATA


def test_upload_errors(local_b: Api) -> None:
    wrong_type = local_b.post(
        "/api/external-payloads/v1",
        role="worker",
        version=None,
        content=DATA,
        headers={**meta_headers(DATA), "Content-Type": "application/json"},
    )
    assert_error(wrong_type, 415, "external_payload_unsupported")
    assert_error(upload(local_b, size=len(DATA) + 1), 422, "external_payload_integrity_mismatch")
    assert_error(upload(local_b, sha="0" * 64), 422, "external_payload_integrity_mismatch")
    assert_error(upload(local_b, size=10**9), 413, "external_payload_oversized")
    bad_size = local_b.post(
        "/api/external-payloads/v1",
        role="worker",
        version=None,
        content=DATA,
        headers={**meta_headers(DATA), "X-Durable-Workflow-Payload-Size": "-1"},
    )
    assert_error(bad_size, 422, "external_payload_unsupported")
    assert_error(_unauthorized(local_b), 401, "external_payload_unauthorized")


def _unauthorized(api: Api) -> httpx.Response:
    return api.post(
        "/api/external-payloads/v1",
        role=None,
        version=None,
        content=DATA,
        headers={**meta_headers(DATA), "Authorization": "Bearer nope"},
    )


def test_upload_without_available_storage_is_503(api_b: Api) -> None:
    response = upload(api_b)
    assert_error(response, 503, "external_payload_unavailable")
    assert response.json()["retryable"] is True


def test_fetch_errors(gen_b: EmulatedServer, local_b: Api) -> None:
    reference = upload(local_b).json()["reference"]
    gen_b.add_namespace("other")
    assert_error(fetch(local_b, reference, namespace="other"), 404, "external_payload_not_found")
    assert_error(fetch(local_b, {**reference, "size_bytes": 1}), 422, "external_payload_integrity_mismatch")
    assert_error(fetch(local_b, {**reference, "reference_id": "ep_bad"}), 422, "external_payload_unsupported")
    gen_b.write_object(gen_b.uploads("default")[0].uri, b"tampered")
    assert_error(fetch(local_b, reference), 422, "external_payload_integrity_mismatch")
    gen_b.delete_object(gen_b.uploads("default")[0].uri)
    assert_error(fetch(local_b, reference), 404, "external_payload_not_found")


def test_unclaimed_upload_expires_claimed_does_not(gen_b: EmulatedServer, local_b: Api) -> None:
    unclaimed = upload(local_b).json()["reference"]
    claimed = upload(local_b, data=DATA + b"1").json()["reference"]
    gen_b.claim_payload("default", claimed)
    gen_b.advance_clock(3601)
    assert_error(fetch(local_b, unclaimed), 410, "external_payload_expired")
    assert fetch(local_b, claimed).status_code == 200


def test_transport_only_on_gen_b(api_a: Api) -> None:
    assert upload(api_a).status_code == 404


def test_cleanup_reclaims_expired_unclaimed_uploads(gen_b: EmulatedServer, local_b: Api) -> None:
    expired = upload(local_b).json()["reference"]
    kept = gen_b.store_payload("default", DATA + b"k")  # retained (owned by state)
    gen_b.add_workflow("default", "wf", status="running", input=kept)
    expired_uri = gen_b.uploads("default")[0].uri
    before = local_b.get("/api/system/external-payload-cleanup").json()
    assert before["namespace"] == "default"
    assert before["cleanup"]["backlog"]["expired_unclaimed"] == 0
    gen_b.advance_clock(3601)
    assert local_b.get("/api/system/external-payload-cleanup").json()["cleanup"]["backlog"]["expired_unclaimed"] == 1
    response = local_b.post("/api/system/external-payload-cleanup/pass", json={"limit": 10})
    assert response.status_code == 200
    report = response.json()["cleanup"]
    assert report["processed"] == 1
    assert report["deleted_references"] == 1
    assert report["deleted_backing_objects"] == 1
    assert report["backlog"] == 0
    assert not gen_b.object_exists(expired_uri)
    assert gen_b.object_exists(gen_b.payload_uri("default", kept))
    assert_error(fetch(local_b, expired), 404, "external_payload_not_found")
    metrics = local_b.get("/api/system/external-payload-cleanup").json()["cleanup"]
    assert metrics["totals"]["passes"] == 1
    assert metrics["last_pass"]["status"] == "completed"


def test_cleanup_preserves_shared_objects_and_reports_blocked(gen_b: EmulatedServer, local_b: Api) -> None:
    gen_b.add_namespace("other")
    local_b.put_policy("other", {"driver": "local", "config": {"uri": (gen_b.local_root / "default").as_uri()}})
    upload(local_b)
    local_b.post(
        "/api/external-payloads/v1",
        role="worker",
        version=None,
        namespace="other",
        content=DATA,
        headers=meta_headers(DATA),
    )
    gen_b.advance_clock(3601)
    shared = local_b.post("/api/system/external-payload-cleanup/pass", json={}).json()["cleanup"]
    assert shared["shared_objects_preserved"] == 1
    gen_b.faults.storage_errors = True
    blocked = local_b.post("/api/system/external-payload-cleanup/pass", namespace="other", json={})
    assert blocked.status_code == 207
    assert blocked.json()["cleanup"]["storage_driver_failures"] == 1
    assert local_b.post("/api/system/external-payload-cleanup/pass", json={"limit": 1001}).status_code == 422


def test_cleanup_routes_absent_on_gen_a(api_a: Api) -> None:
    assert api_a.get("/api/system/external-payload-cleanup").status_code == 404
