"""History retention and external payload deletion (§6.6, §7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from devkit.dw_emulator import EmulatedServer, RunSpec

from .conftest import ServerFactory
from .helpers import Api

BLOB = "wwHioz3/" + "Q" * 300


def expired(srv: EmulatedServer, days: int = 40) -> Any:
    return srv.now() - timedelta(days=days)


def status(api: Api) -> dict[str, Any]:
    body: dict[str, Any] = api.get("/api/system/retention").json()
    return body


def run_pass(api: Api, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    response = api.post("/api/system/retention/pass", json=body or {})
    return response.status_code, response.json()


def setup_local(srv: EmulatedServer, api: Api) -> None:
    assert api.put_policy("default", {"driver": "local", "threshold_bytes": 64}).status_code == 200


def test_status_lists_expired_terminal_runs_only(gen_a: EmulatedServer, api_a: Api) -> None:
    [old] = gen_a.add_workflow("default", "old", closed_at=expired(gen_a))
    gen_a.add_workflow("default", "fresh", closed_at=expired(gen_a, 1))
    gen_a.add_workflow("default", "running", status="running", started_at=expired(gen_a, 90))
    gen_a.add_workflow("default", "archived", runs=[RunSpec(closed_at=expired(gen_a), archived=True)])
    body = status(api_a)
    assert body["expired_run_ids"] == [old]
    assert body["expired_run_count"] == 1
    assert body["retention_days"] == 30
    assert body["scan_limit"] == 100
    assert body["scan_pressure"] is False
    assert list(body) == [
        "namespace",
        "retention_days",
        "cutoff",
        "expired_run_count",
        "expired_run_ids",
        "scan_limit",
        "scan_pressure",
    ]


def test_captured_gen_a_prunes_runs_and_deletes_no_payload(gen_a: EmulatedServer, api_a: Api) -> None:
    """The captured server copies offloaded inputs inline at start and keeps no reference: a pruned run
    leaves its offloaded object behind (external_payloads_deleted stays 0, as captured)."""
    setup_local(gen_a, api_a)
    envelope = gen_a.store_payload("default", BLOB)
    [run_id] = gen_a.add_workflow("default", "wf", input=envelope, closed_at=expired(gen_a))
    code, body = run_pass(api_a)
    assert code == 200
    [result] = body["results"]
    assert (result["run_id"], result["outcome"], result["external_payloads_deleted"]) == (run_id, "pruned", 0)
    assert gen_a.object_exists(envelope["external_storage"]["uri"])
    assert gen_a.workflow("default", "wf") is None


def test_gen_a_pass_prunes_and_deletes_objects(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    setup_local(gen_a_refs, api_a_refs)
    envelope = gen_a_refs.store_payload("default", BLOB)
    uri = envelope["external_storage"]["uri"]
    [run_id] = gen_a_refs.add_workflow("default", "wf", input=envelope, closed_at=expired(gen_a_refs))
    code, body = run_pass(api_a_refs)
    assert code == 200
    assert set(body) == {"processed", "pruned", "skipped", "failed", "results"}  # bare Gen A report
    assert body["pruned"] == 1
    [result] = body["results"]
    assert result["run_id"] == run_id
    assert result["outcome"] == "pruned"
    assert result["external_payloads_deleted"] == 1
    assert not gen_a_refs.object_exists(uri)
    assert gen_a_refs.workflow("default", "wf") is None


def test_gen_a_hazard_deletes_objects_shared_with_live_runs(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    setup_local(gen_a_refs, api_a_refs)
    shared = gen_a_refs.store_payload("default", BLOB)
    gen_a_refs.add_workflow("default", "old", input=shared, closed_at=expired(gen_a_refs))
    gen_a_refs.add_workflow("default", "live", status="running", input=shared)
    code, body = run_pass(api_a_refs)
    assert (code, body["pruned"]) == (200, 1)
    assert not gen_a_refs.object_exists(shared["external_storage"]["uri"]), "Gen A deletes without an owner check"


def test_hazard_off_keeps_shared_objects(make_server: ServerFactory) -> None:
    srv = make_server(generation="A", profile="references", shared_delete_hazard=False)
    api = Api(srv)
    try:
        setup_local(srv, api)
        shared = srv.store_payload("default", BLOB)
        own = srv.store_payload("default", BLOB + "X")
        srv.add_workflow("default", "old", input=shared, output=own, closed_at=expired(srv))
        srv.add_workflow("default", "live", status="running", input=shared)
        code, body = run_pass(api)
        assert code == 200
        assert body["results"][0]["external_payloads_deleted"] == 1
        assert srv.object_exists(shared["external_storage"]["uri"])
        assert not srv.object_exists(own["external_storage"]["uri"])
    finally:
        api.close()


def test_gen_b_pass_shape_and_owner_aware_deletion(gen_b: EmulatedServer, api_b: Api) -> None:
    setup_local(gen_b, api_b)
    shared = gen_b.store_payload("default", BLOB)
    own = gen_b.store_payload("default", BLOB + "Y")
    gen_b.add_workflow("default", "old", input=shared, output=own, closed_at=expired(gen_b))
    gen_b.add_workflow("default", "live", status="running", input=shared)
    own_uri = gen_b.payload_uri("default", own)
    code, body = run_pass(api_b)
    assert code == 200
    assert list(body)[:4] == ["namespace", "retention_mode", "retention_days", "cutoff"]
    assert body["results"][0]["external_payloads_deleted"] == 1
    assert gen_b.object_exists(gen_b.payload_uri("default", shared))
    assert own["external_payload"]["reference_id"] not in {row.id for row in gen_b.uploads()}
    assert not gen_b.object_exists(own_uri)


def test_driver_unavailable_skips_run(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    setup_local(gen_a_refs, api_a_refs)
    envelope = gen_a_refs.store_payload("default", BLOB)
    [run_id] = gen_a_refs.add_workflow("default", "wf", input=envelope, closed_at=expired(gen_a_refs))
    gen_a_refs.faults.storage_status = "driver_unavailable"
    code, body = run_pass(api_a_refs)
    assert code == 200
    assert body["results"] == [
        {"run_id": run_id, "outcome": "skipped", "reason": "external_payload_storage_driver_unavailable"}
    ]
    assert gen_a_refs.object_exists(envelope["external_storage"]["uri"])
    assert gen_a_refs.run("default", run_id) is not None


def test_storage_error_is_207_and_keeps_the_run(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    setup_local(gen_a_refs, api_a_refs)
    envelope = gen_a_refs.store_payload("default", BLOB)
    [run_id] = gen_a_refs.add_workflow("default", "wf", input=envelope, closed_at=expired(gen_a_refs))
    gen_a_refs.add_workflow("default", "plain", closed_at=expired(gen_a_refs, 50))
    gen_a_refs.faults.storage_errors = True
    code, body = run_pass(api_a_refs)
    assert code == 207
    assert (body["processed"], body["pruned"], body["failed"]) == (2, 1, 1)
    error = next(r for r in body["results"] if r["outcome"] == "error")
    assert error == {"run_id": run_id, "outcome": "error", "reason": "Injected storage failure."}
    assert gen_a_refs.run("default", run_id) is not None


def test_reference_outside_local_root_is_an_error(gen_a_refs: EmulatedServer, api_a_refs: Api, tmp_path: Any) -> None:
    setup_local(gen_a_refs, api_a_refs)
    outside = (tmp_path / "elsewhere" / "obj").as_uri()
    [run_id] = gen_a_refs.add_workflow(
        "default", "wf", input=gen_a_refs.reference_envelope(outside, BLOB), closed_at=expired(gen_a_refs)
    )
    code, body = run_pass(api_a_refs)
    assert code == 207
    assert body["results"][0]["run_id"] == run_id
    assert body["results"][0]["reason"] == "External payload URI is outside the local storage root."


def test_run_ids_and_skip_reasons(gen_a: EmulatedServer, api_a: Api) -> None:
    [running] = gen_a.add_workflow("default", "r", status="running")
    [archived] = gen_a.add_workflow("default", "a", runs=[RunSpec(closed_at=expired(gen_a), archived=True)])
    code, body = run_pass(api_a, {"run_ids": [running, archived, "nope"]})
    assert code == 200
    assert [r["reason"] for r in body["results"]] == ["run_not_terminal", "run_archived", "run_not_found"]
    assert run_pass(api_a, {"run_ids": ["x"] * 101})[0] == 422
    assert run_pass(api_a, {"limit": 0})[0] == 422


def test_limit_caps_and_owned_uris_are_deleted(gen_a_refs: EmulatedServer, api_a_refs: Api) -> None:
    setup_local(gen_a_refs, api_a_refs)
    extra = (gen_a_refs.local_root / "default" / "avro" / "ee" / "ee11").as_uri()
    gen_a_refs.write_object(extra, b"memo bytes")
    for i in range(3):
        gen_a_refs.add_workflow("default", f"wf-{i}", closed_at=expired(gen_a_refs, 40 + i))
    [owner] = gen_a_refs.add_workflow("default", "owner", closed_at=expired(gen_a_refs, 60))
    gen_a_refs.set_run_owns("default", owner, [extra])
    code, body = run_pass(api_a_refs, {"limit": 1})
    assert (code, body["processed"]) == (200, 1)
    assert body["results"][0]["run_id"] == owner  # oldest closed first
    assert not gen_a_refs.object_exists(extra)


def test_retention_days_from_namespace_and_clock(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.set_retention("default", days=2)
    [run_id] = gen_a.add_workflow("default", "wf", closed_at=gen_a.now())
    assert status(api_a)["expired_run_ids"] == []
    gen_a.advance_clock(3 * 86400)
    assert status(api_a)["expired_run_ids"] == [run_id]
