"""Every captured answer of the real server is reproduced: same status, same keys, same messages.

Volatile values (timestamps, generated ids, filesystem paths, checksums) are masked before the
bodies are compared; everything else must be equal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from devkit.dw_emulator import EmulatedServer

from .conftest import ServerFactory
from .helpers import Api, load_sample, sample_names

VOLATILE = {
    # timestamps
    "created_at", "updated_at", "started_at", "closed_at", "timestamp", "accepted_at", "applied_at",
    "recorded_at", "exported_at", "cutoff", "last_progress_at", "execution_deadline_at", "run_deadline_at",
    "sort_timestamp", "sort_key", "dedupe_key", "wait_started_at", "next_task_at", "available_at",
    "last_dispatch_attempt_at", "last_dispatched_at",
    # generated ids
    "run_id", "id", "workflow_run_id", "workflow_command_id", "resolved_run_id", "current_run_id",
    "command_id", "source_id", "open_wait_id", "resume_source_id", "next_task_id", "liveness_reason",
    "request_fingerprint",
    # paths and content-dependent digests/sizes
    "uri", "reference_uri", "checksum", "history_size_bytes",
}  # fmt: skip
MASK = "<volatile>"

Scenario = Callable[[EmulatedServer, Api, Path], httpx.Response]


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if k in VOLATILE and v is not None else mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def shape_mismatches(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Key sets and JSON types, recursively (lists element-wise)."""
    if type(expected) is not type(actual) and not (
        isinstance(expected, int | float) and isinstance(actual, int | float)
    ):
        return [f"{path}: {type(expected).__name__} != {type(actual).__name__}"]
    out: list[str] = []
    if isinstance(expected, dict):
        if set(expected) != set(actual):
            out.append(
                f"{path}: missing {sorted(set(expected) - set(actual))} extra {sorted(set(actual) - set(expected))}"
            )
        for key in set(expected) & set(actual):
            out.extend(shape_mismatches(expected[key], actual[key], f"{path}.{key}"))
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            out.append(f"{path}: {len(expected)} items != {len(actual)}")
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            out.extend(shape_mismatches(e, a, f"{path}[{i}]"))
    return out


def _ops_test(srv: EmulatedServer, api: Api, tmp: Path) -> str:
    srv.add_namespace("ops-test", description="operator test", retention_days=7)
    uri = (tmp / "dw-payloads").as_uri()
    response = api.put_policy(
        "ops-test", {"driver": "local", "enabled": True, "threshold_bytes": 256, "config": {"uri": uri}}
    )
    assert response.status_code == 200
    return uri


def _offloaded_workflow(srv: EmulatedServer, api: Api, tmp: Path) -> str:
    _ops_test(srv, api, tmp)
    blob = load_sample("workflow-describe-offloaded-input")["body"]["input_envelope"]["blob"]
    envelope = srv.store_payload("ops-test", blob)
    assert envelope["external_storage"]["uri"].startswith((tmp / "dw-payloads").as_uri())
    [run_id] = srv.add_workflow(
        "ops-test", "wf-big-1", status="pending", input=envelope, workflow_type="bigflow", task_queue="q1"
    )
    return run_id


def s_bad_token(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    return api.get("/api/namespaces", headers={"Authorization": "Bearer nope"})


def s_cluster_info(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    return api.get("/api/cluster/info", role="worker", version=None)


def s_put_404(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    return api.put_policy("nope", {"driver": "local"})


def s_put_422_driver(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    return api.put_policy("default", {"driver": "azure-blob", "enabled": True})


def s_put_422_threshold(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    return api.put_policy("default", {"driver": "local", "threshold_bytes": 0})


def s_put_ok(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    srv.add_namespace("ops-test", description="operator test", retention_days=7)
    config = {"uri": (tmp / "dw-payloads").as_uri(), "unknown_key": "dropped"}
    return api.put_policy("ops-test", {"driver": "local", "enabled": True, "threshold_bytes": 256, "config": config})


def s_namespace_get(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    _ops_test(srv, api, tmp)
    return api.get("/api/namespaces/ops-test", role="operator")


def s_namespaces_list(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    _ops_test(srv, api, tmp)
    return api.get("/api/namespaces", role="operator")


def s_no_version(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    return api.get("/api/namespaces", version=None)


def s_operator_403(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    return api.call("PUT", "/api/namespaces/default/external-storage", role="operator", json={"driver": "local"})


def s_retention_pass(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    _ops_test(srv, api, tmp)
    return api.post("/api/system/retention/pass", namespace="ops-test", json={})


def s_retention_status(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    _ops_test(srv, api, tmp)
    return api.get("/api/system/retention", namespace="ops-test")


def s_storage_ok(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    _ops_test(srv, api, tmp)
    body = {"small_payload_bytes": 1024, "large_payload_bytes": 4096}
    return api.post("/api/storage/test", namespace="ops-test", json=body)


def s_storage_unavailable(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    srv.add_namespace("ops-test", description="operator test", retention_days=7)
    srv.drivers.set("s3", False)  # "an s3 policy on a server runtime without S3 configured"
    assert api.put_policy("ops-test", {"driver": "s3", "config": {"bucket": "b"}}).status_code == 200
    body = {"small_payload_bytes": 1024, "large_payload_bytes": 4096}
    return api.post("/api/storage/test", namespace="ops-test", json=body)


def s_storage_missing_sizes(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    return api.post("/api/storage/test", json={})


def s_describe(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    _offloaded_workflow(srv, api, tmp)
    return api.get("/api/workflows/wf-big-1", namespace="ops-test", role="operator")


def s_history(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    run_id = _offloaded_workflow(srv, api, tmp)
    return api.get(f"/api/workflows/wf-big-1/runs/{run_id}/history", namespace="ops-test", role="operator")


def s_export(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    run_id = _offloaded_workflow(srv, api, tmp)
    return api.get(f"/api/workflows/wf-big-1/runs/{run_id}/history/export", namespace="ops-test", role="operator")


def s_workflows_list(srv: EmulatedServer, api: Api, tmp: Path) -> httpx.Response:
    _offloaded_workflow(srv, api, tmp)
    return api.get("/api/workflows", namespace="ops-test", role="operator")


SCENARIOS: dict[str, Scenario] = {
    "bad-token-401": s_bad_token,
    "cluster-info": s_cluster_info,
    "external-storage-put-404-namespace": s_put_404,
    "external-storage-put-422-driver": s_put_422_driver,
    "external-storage-put-422-threshold": s_put_422_threshold,
    "external-storage-put-ok": s_put_ok,
    "history-export-offloaded-input": s_export,
    "history-page-offloaded-input": s_history,
    "namespace-get": s_namespace_get,
    "namespaces-list": s_namespaces_list,
    "no-version-header-400": s_no_version,
    "operator-token-on-admin-route-403": s_operator_403,
    "retention-pass": s_retention_pass,
    "retention-status": s_retention_status,
    "storage-test-200-local": s_storage_ok,
    "storage-test-422-driver-unavailable": s_storage_unavailable,
    "storage-test-422-missing-sizes": s_storage_missing_sizes,
    "workflow-describe-offloaded-input": s_describe,
    "workflows-list": s_workflows_list,
}


def test_every_sample_has_a_scenario() -> None:
    assert sorted(SCENARIOS) == sample_names()


@pytest.mark.parametrize("name", sample_names())
def test_sample_is_reproduced(name: str, make_server: ServerFactory, tmp_path: Path) -> None:
    # The captured server: Gen A, no discovery block, offloaded payloads resolved inline.
    srv = make_server(generation="A", discovery=False, inline_payloads=True)
    api = Api(srv)
    try:
        response = SCENARIOS[name](srv, api, tmp_path)
    finally:
        api.close()
    sample = load_sample(name)
    assert response.status_code == sample["status"]
    body = response.json()
    assert shape_mismatches(sample["body"], body) == []
    assert mask(body) == mask(sample["body"])


def test_storage_test_reference_uri_layout(api_a: Api, tmp_path: Path) -> None:
    """The masked ``reference_uri``: ``{root}/storage-test-{kind}/{sha[0:2]}/{sha}`` under ``config.uri``."""
    root = (tmp_path / "dw-payloads").as_uri()
    assert api_a.put_policy("default", {"driver": "local", "config": {"uri": root}}).status_code == 200
    body = api_a.post("/api/storage/test", json={"small_payload_bytes": 1024, "large_payload_bytes": 4096}).json()
    for kind in ("small", "large"):
        sha = body[f"{kind}_payload"]["sha256"]
        assert body[f"{kind}_payload"]["reference_uri"] == f"{root}/storage-test-{kind}/{sha[:2]}/{sha}"
    assert not any((tmp_path / "dw-payloads").rglob("*.*")), "the storage test deletes what it wrote"
