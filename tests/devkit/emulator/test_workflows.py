"""Workflow list/describe/runs/history/export and how payload references are presented (§2, §6.8)."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer, RunSpec

from .conftest import ServerFactory
from .helpers import Api

BLOB = "wwHioz3/" + "A" * 600  # looks like a 2.x single-object frame; content is opaque to the server


def local_policy(api: Api, namespace: str = "default") -> None:
    assert api.put_policy(namespace, {"driver": "local", "threshold_bytes": 256}).status_code == 200


def history(api: Api, workflow_id: str, run_id: str, **params: Any) -> dict[str, Any]:
    response = api.get(f"/api/workflows/{workflow_id}/runs/{run_id}/history", role="operator", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_list_paging(gen_a: EmulatedServer, api_a: Api) -> None:
    for i in range(5):
        gen_a.add_workflow("default", f"wf-{i}")
    seen: list[str] = []
    token = None
    while True:
        params = {"page_size": 2, **({"next_page_token": token} if token else {})}
        body = api_a.get("/api/workflows", role="operator", params=params).json()
        seen += [w["workflow_id"] for w in body["workflows"]]
        assert body["control_plane"]["operation"] == "list"
        token = body["next_page_token"]
        if token is None:
            break
    assert seen == [f"wf-{i}" for i in range(5)]


def test_list_filters_and_validation(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.add_workflow("default", "a", status="running", workflow_type="t1")
    gen_a.add_workflow("default", "b", status="failed", workflow_type="t2")
    assert [
        w["workflow_id"] for w in api_a.get("/api/workflows?status=running", role="operator").json()["workflows"]
    ] == ["a"]
    assert [
        w["workflow_id"] for w in api_a.get("/api/workflows?workflow_type=t2", role="operator").json()["workflows"]
    ] == ["b"]
    assert api_a.get("/api/workflows?page_size=0", role="operator").status_code == 422
    assert api_a.get("/api/workflows?next_page_token=***", role="operator").status_code == 422


def test_describe_runs_and_not_found(gen_a: EmulatedServer, api_a: Api) -> None:
    first, second = gen_a.add_workflow(
        "default", "chain", runs=[RunSpec(status="completed"), RunSpec(status="running")]
    )
    described = api_a.get("/api/workflows/chain", role="operator").json()
    assert described["run_id"] == second
    assert described["run_count"] == 2
    assert described["is_terminal"] is False
    runs = api_a.get("/api/workflows/chain/runs", role="operator").json()
    assert [r["run_id"] for r in runs["runs"]] == [first, second]
    assert runs["runs"][0]["status"] == "completed"
    assert api_a.get(f"/api/workflows/chain/runs/{first}", role="operator").json()["is_current_run"] is False
    missing = api_a.get("/api/workflows/nope", role="operator")
    assert missing.status_code == 404
    assert missing.json()["reason"] == "instance_not_found"
    assert api_a.get("/api/workflows/chain/runs/nope/history", role="operator").status_code == 404


def test_history_paging_token_is_base64_of_last_sequence(gen_a: EmulatedServer, api_a: Api) -> None:
    [run_id] = gen_a.add_workflow("default", "wf", activity_results=[gen_a.inline_payload("QQ==")] * 3)
    page = history(api_a, "wf", run_id, page_size=2)
    assert [e["sequence"] for e in page["events"]] == [1, 2]
    assert base64.b64decode(page["next_page_token"]).decode() == "2"
    rest = history(api_a, "wf", run_id, page_size=10, next_page_token=page["next_page_token"])
    assert [e["event_type"] for e in rest["events"]] == [
        "ActivityCompleted",
        "ActivityCompleted",
        "ActivityCompleted",
        "WorkflowCompleted",
    ]
    assert rest["next_page_token"] is None
    assert api_a.get(f"/api/workflows/wf/runs/{run_id}/history?page_size=1001", role="operator").status_code == 422


def test_gen_a_presents_external_storage_references(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    local_policy(api_a_refs)
    envelope = gen_a_refs.store_payload("default", BLOB)
    result = gen_a_refs.store_payload("default", BLOB + "B")
    [run_id] = gen_a_refs.add_workflow("default", "wf", input=envelope, activity_results=[result], output=result)
    events = history(api_a_refs, "wf", run_id)["events"]
    assert events[0]["payload"]["command"]["payload"] == envelope
    assert events[2]["payload"]["result"] == result
    assert events[3]["payload"]["output"] == result
    reference = envelope["external_storage"]
    assert reference["sha256"] == hashlib.sha256(BLOB.encode()).hexdigest()
    assert reference["size_bytes"] == len(BLOB)
    described = api_a_refs.get("/api/workflows/wf", role="operator").json()
    assert described["input_envelope"] == envelope
    assert described["input"] is None
    assert gen_a_refs.owned_uris("default", run_id) == [reference["uri"], result["external_storage"]["uri"]]


def test_gen_b_presents_runtime_references(gen_b: EmulatedServer, api_b: Api) -> None:
    local_policy(api_b)
    envelope = gen_b.store_payload("default", BLOB)
    assert set(envelope) == {"codec", "external_payload"}
    reference = envelope["external_payload"]
    assert re.fullmatch(r"ep_[0-9A-HJKMNP-TV-Z]{26}", reference["reference_id"])
    [run_id] = gen_b.add_workflow("default", "wf", input=envelope)
    events = history(api_b, "wf", run_id)["events"]
    assert events[0]["payload"]["command"]["payload"] == envelope
    text = str(events)
    assert "external_storage" not in text
    assert "file://" not in text


def test_gen_b_rewrites_seeded_gen_a_envelopes(gen_b: EmulatedServer, api_b: Api) -> None:
    """A Gen A-shaped reference in server state is registered and shown as ``external_payload``."""
    local_policy(api_b)
    uri = (gen_b.local_root / "default" / "avro" / "ab" / "x").as_uri()
    gen_b.write_object(uri, BLOB)
    [run_id] = gen_b.add_workflow("default", "wf", input=gen_b.reference_envelope(uri, BLOB))
    payload = history(api_b, "wf", run_id)["events"][0]["payload"]["command"]["payload"]
    assert payload["external_payload"]["sha256"] == hashlib.sha256(BLOB.encode()).hexdigest()


def test_inline_mode_hides_references(make_server: ServerFactory) -> None:
    srv = make_server(generation="A", inline_payloads=True)
    api = Api(srv)
    try:
        local_policy(api)
        envelope = srv.store_payload("default", BLOB)
        [run_id] = srv.add_workflow("default", "wf", input=envelope, activity_results=[envelope])
        events = history(api, "wf", run_id)["events"]
        assert events[0]["payload"]["command"]["payload"] == BLOB
        assert events[2]["payload"]["result"] == {"codec": "avro", "blob": BLOB}
        export = api.get(f"/api/workflows/wf/runs/{run_id}/history/export", role="operator").json()
        assert export["payloads"]["arguments"]["data"] == BLOB
        assert "external_storage" not in str(export)
        # an unreadable offloaded payload: the read endpoints fail
        srv.delete_object(envelope["external_storage"]["uri"])
        assert api.get(f"/api/workflows/wf/runs/{run_id}/history", role="operator").status_code == 500
    finally:
        api.close()


def test_export_bundle_integrity(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    pytest.importorskip("durable_workflow")
    from durable_workflow import history_bundle_verify

    local_policy(api_a_refs)
    [run_id] = gen_a_refs.add_workflow("default", "wf", input=gen_a_refs.store_payload("default", BLOB))
    bundle = api_a_refs.get(f"/api/workflows/wf/runs/{run_id}/history/export", role="operator").json()
    assert bundle["schema"] == "durable-workflow.v2.history-export"
    assert bundle["history_complete"] is True
    assert bundle["payloads"]["arguments"]["data"]["external_storage"]["size_bytes"] == len(BLOB)
    canonical = history_bundle_verify._canonicalize(bundle)
    assert hashlib.sha256(canonical.encode()).hexdigest() == bundle["integrity"]["checksum"]


def test_custom_events_and_owned_uris(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    local_policy(api_a_refs)
    memo_ref = gen_a_refs.store_payload("default", "bWVtbw==")
    other = (gen_a_refs.local_root / "default" / "avro" / "cd" / "cd00").as_uri()
    [run_id] = gen_a_refs.add_workflow(
        "default",
        "wf",
        events=[{"event_type": "UpdateCompleted", "payload": {"update": {"result": memo_ref}}}],
        owns=[other],
        closed_at=gen_a_refs.now() - timedelta(days=1),
    )
    events = history(api_a_refs, "wf", run_id)["events"]
    assert events[2] == {**events[2], "event_type": "UpdateCompleted"}
    assert events[2]["payload"]["update"]["result"] == memo_ref
    assert gen_a_refs.owned_uris("default", run_id) == [memo_ref["external_storage"]["uri"], other]
