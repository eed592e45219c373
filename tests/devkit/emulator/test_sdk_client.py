"""The real ``durable-workflow`` 2.12 SDK ``Client`` talks to the emulator (both generations)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from devkit.dw_emulator import EmulatedServer

from .conftest import ServerFactory

dw = pytest.importorskip("durable_workflow")
from durable_workflow import Client  # noqa: E402
from durable_workflow.errors import NamespaceNotFound, ServerError  # noqa: E402
from durable_workflow.external_storage import LocalFilesystemExternalStorage  # noqa: E402

BIG_INPUT = ["x" * 2000]


def client(srv: EmulatedServer, namespace: str = "default", **kwargs: object) -> Client:
    kwargs.setdefault("control_token", srv.token("admin"))
    return Client(srv.url, namespace=namespace, timeout=10.0, **kwargs)  # type: ignore[arg-type]


async def test_namespace_and_storage_control_plane_gen_a(gen_a_refs: EmulatedServer, tmp_path: Path) -> None:
    async with client(gen_a_refs) as c:
        info = await c.get_cluster_info()
        assert info["namespace"]["external_payload_storage"]["status"] == "unconfigured"
        created = await c.create_namespace("Orders", description="orders", retention_days=7)
        assert created.name == "orders"
        described = await c.set_namespace_external_storage(
            "orders", driver="local", threshold_bytes=256, config={"uri": (tmp_path / "store").as_uri()}
        )
        policy = described.external_payload_storage
        assert policy is not None
        assert (policy.driver, policy.enabled, policy.threshold_bytes) == ("local", True, 256)
        listed = await c.list_namespaces()
        assert [ns.name for ns in listed.namespaces] == ["default", "orders"]
        assert (await c.describe_namespace("orders")).retention_days == 7
        with pytest.raises(NamespaceNotFound):
            await c.describe_namespace("missing")
    async with client(gen_a_refs, namespace="orders") as c:
        result = await c.test_external_storage(small_payload_bytes=1024, large_payload_bytes=4096)
        assert result.status == "passed"
        assert result.driver == "local"
        assert result.small_payload is not None
        assert result.small_payload.bytes == 1024
        assert result.small_payload.reference_uri is not None
        assert result.small_payload.reference_uri.startswith((tmp_path / "store").as_uri())
        with pytest.raises(Exception, match="small payload bytes field is required"):
            await c.test_external_storage()
        status = await c.retention_status()
        assert status["namespace"] == "orders"
        assert status["retention_days"] == 7
        assert await c.retention_pass() == {"processed": 0, "pruned": 0, "skipped": 0, "failed": 0, "results": []}


async def test_retention_through_the_sdk(gen_a: EmulatedServer) -> None:
    [run_id] = gen_a.add_workflow("default", "wf", closed_at=gen_a.now() - timedelta(days=31))
    async with client(gen_a) as c:
        assert (await c.retention_status())["expired_run_ids"] == [run_id]
        report = await c.retention_pass(run_ids=[run_id], limit=10)
        assert report["pruned"] == 1
        assert report["results"][0]["outcome"] == "pruned"


async def test_worker_token_refused_for_control_plane_by_the_sdk(gen_a: EmulatedServer) -> None:
    async with Client(gen_a.url, worker_token=gen_a.token("worker")) as c:
        with pytest.raises(ValueError, match="worker_token cannot authorize control operations"):
            await c.list_namespaces()
        info = await c.get_cluster_info()  # discovery accepts the worker credential
        assert info["version"] == "2.0.0"


async def test_operator_token_on_admin_route(gen_a: EmulatedServer) -> None:
    async with client(gen_a, control_token=gen_a.token("operator")) as c:
        assert (await c.list_namespaces()).namespaces
        with pytest.raises(Exception, match="not allowed"):
            await c.set_namespace_external_storage("default", driver="local")


async def test_sdk_offloads_to_local_storage_and_server_validates_root(
    gen_a_refs: EmulatedServer, tmp_path: Path
) -> None:
    """Gen A: the SDK writes the object itself; the server accepts it only under the policy root (§12)."""
    store = tmp_path / "store"
    storage = LocalFilesystemExternalStorage(store)
    async with client(gen_a_refs, external_storage=storage, external_storage_threshold_bytes=256) as c:
        await c.set_namespace_external_storage("default", driver="local", threshold_bytes=256)
        with pytest.raises(Exception, match="outside the local storage root"):
            await c.start_workflow(workflow_type="big", task_queue="q", workflow_id="wf-1", input=BIG_INPUT)
        await c.set_namespace_external_storage(
            "default", driver="local", threshold_bytes=256, config={"uri": store.as_uri()}
        )
        handle = await c.start_workflow(workflow_type="big", task_queue="q", workflow_id="wf-1", input=BIG_INPUT)
        described = await c.describe_workflow("wf-1")
        assert described.input == BIG_INPUT
        assert described.status == "pending"
        history = await c.get_history("wf-1", handle.run_id or "")
        reference = history["events"][0]["payload"]["command"]["payload"]["external_storage"]
        assert reference["uri"].startswith(store.as_uri())
        assert gen_a_refs.owned_uris("default", handle.run_id or "") == [reference["uri"]]
        runs = await c.list_workflow_runs("wf-1")
        assert runs.run_count == 1
        listed = await c.list_workflows(page_size=10)
        assert [w.workflow_id for w in listed.executions] == ["wf-1"]


async def test_captured_gen_a_refuses_sdk_2_payloads(gen_a: EmulatedServer) -> None:
    """SDK 2.12 frames Avro as single-object `C3 01`; the captured server answers 500 (only 0.4.x starts)."""
    async with client(gen_a) as c:
        with pytest.raises(ServerError, match="Unknown Avro payload prefix: 0xc3"):
            await c.start_workflow(workflow_type="t", task_queue="q", workflow_id="wf-2x", input=["order"])
    assert gen_a.workflow("default", "wf-2x") is None


async def test_sdk_runtime_transport_round_trip_gen_b(make_server: ServerFactory) -> None:
    """Gen B: SDK 2.12 discovers the transport, uploads oversized input, fetches it back on reads."""
    srv = make_server(generation="B")
    async with client(srv) as c:
        await c.set_namespace_external_storage("default", driver="local", threshold_bytes=256)
        handle = await c.start_workflow(workflow_type="big", task_queue="q", workflow_id="wf-b", input=BIG_INPUT)
        [row] = srv.uploads("default")
        assert row.retained_at is not None, "the start claimed the upload"
        assert srv.object_exists(row.uri)
    assert srv.count(method="POST", path="/api/external-payloads/v1", status=201) == 1
    async with client(srv) as reader:  # a fresh client: empty payload cache, so it must fetch
        described = await reader.describe_workflow("wf-b")
        assert described.input == BIG_INPUT
        history = await reader.get_history("wf-b", handle.run_id or "")
        payload = history["events"][0]["payload"]["command"]["payload"]
        assert set(payload) == {"codec", "blob"}  # the SDK resolved the ep_ reference through the transport
    assert srv.count(method="GET", path_prefix="/api/external-payloads/v1/", status=200) >= 1


async def test_sdk_sees_driver_unavailable_gen_b(make_server: ServerFactory) -> None:
    srv = make_server(generation="B")
    async with client(srv) as c:
        await c.set_namespace_external_storage("default", driver="gcs", threshold_bytes=256, config={"bucket": "b"})
        info = await c.get_cluster_info()
        assert info["namespace"]["external_payload_storage"]["status"] == "driver_unavailable"
        with pytest.raises(Exception, match="not available"):
            await c.start_workflow(workflow_type="big", task_queue="q", workflow_id="wf", input=BIG_INPUT)
