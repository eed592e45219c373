"""The orphan audit against the server emulator: what it reports, what it deletes, and when it refuses."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from devkit.procs import free_port

from payload_operator.api.resource import resource_from_body
from payload_operator.planning.keys import payload_key
from tests.retention.conftest import (
    NAMESPACES,
    Payloads,
    ServerFactory,
    age_file,
    manifest,
    resource_of,
    run_retention,
)


def seed(payloads: Payloads) -> None:
    """Two referenced objects per namespace, three old orphans, one young orphan."""
    for namespace in NAMESPACES:
        payloads.workflow(namespace, f"{namespace}-done")
        payloads.workflow(namespace, f"{namespace}-running", status="running")
    for _ in range(3):
        payloads.orphan()
    payloads.orphan(age=60)


def key_of(payloads: Payloads, path: Path) -> str:
    return str(path.relative_to(payloads.root))


async def test_dry_run_reports_old_unreferenced_objects_and_deletes_nothing(emulator: ServerFactory) -> None:
    payloads = emulator(profile="references")
    seed(payloads)
    before = payloads.existing()
    result, outcome, message = await run_retention(resource_of(payloads.server, payloads.root))
    orphans = result["orphans"]
    assert (orphans["status"], orphans["deletion"]) == ("ok", "not requested")
    assert orphans["referenced"] == 4
    assert orphans["young"] == 1
    assert orphans["candidates"] == 3
    assert orphans["candidateBytes"] == sum(p.stat().st_size for p in payloads.orphans)
    assert orphans["deleted"] == 0
    assert sorted(orphans["sample"]) == sorted(key_of(payloads, p) for p in payloads.orphans)
    assert payloads.existing() == before
    assert outcome == "Succeeded"
    assert "orphans: 3 candidates" in message


async def test_delete_mode_removes_only_old_orphans_and_logs_every_key(
    emulator: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    payloads = emulator(profile="references")
    seed(payloads)
    caplog.set_level(logging.INFO)
    result, outcome, _ = await run_retention(
        resource_of(payloads.server, payloads.root, orphanAudit={"mode": "Delete"})
    )
    assert result["orphans"]["deleted"] == 3
    assert result["orphans"]["deletion"] == "done"
    assert payloads.existing() == set(payloads.referenced) | set(payloads.young)
    logged = {r.getMessage().rsplit(" ", 1)[-1] for r in caplog.records if "deleted orphan" in r.getMessage()}
    assert logged == {key_of(payloads, p) for p in payloads.orphans}
    assert outcome == "Succeeded"


async def test_a_failed_history_page_means_zero_deletions_and_says_why(emulator: ServerFactory) -> None:
    payloads = emulator(profile="references")
    seed(payloads)
    (run_id,) = payloads.server.run_ids("billing")[:1]
    payloads.server.faults.set(500, path_prefix=f"/api/workflows/billing-done/runs/{run_id}/history")
    before = payloads.existing()
    result, outcome, message = await run_retention(
        resource_of(payloads.server, payloads.root, orphanAudit={"mode": "Delete"})
    )
    orphans = result["orphans"]
    assert orphans["status"] == "skipped"
    assert orphans["reason"].startswith("history walk incomplete: 1 page(s) failed")
    assert (orphans["candidates"], orphans["deleted"]) == (0, 0)
    assert payloads.existing() == before
    assert outcome == "PartiallyFailed"
    assert "orphan audit skipped: history walk incomplete" in message


async def test_an_unreachable_bucket_means_zero_deletions_and_says_why(emulator: ServerFactory, tmp_path: Path) -> None:
    payloads = emulator(profile="references")
    seed(payloads)
    gone = tmp_path / "unmounted"
    resource = resource_of(payloads.server, gone, orphanAudit={"mode": "Delete"})
    result, outcome, _ = await run_retention(resource)
    orphans = result["orphans"]
    assert orphans["status"] == "failed"
    assert orphans["reason"].startswith("storage did not answer (BucketNotFound)")
    assert orphans["deleted"] == 0
    assert outcome == "PartiallyFailed"  # the server passes still ran


async def test_an_s3_endpoint_that_does_not_answer_means_zero_deletions(
    emulator: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads = emulator(profile="references")
    key = payload_key("", "ab" * 32)
    payloads.server.add_workflow(
        "orders", "on-s3", input=payloads.server.reference_envelope(f"s3://dw-payloads/{key}", "x")
    )
    manifest_body = manifest(payloads.server, payloads.root, orphanAudit={"mode": "Delete"})
    manifest_body["spec"] |= {
        "driver": "s3",
        "local": None,
        "s3": {"bucket": "dw-payloads", "endpoint": f"http://127.0.0.1:{free_port()}", "forcePathStyle": True},
    }
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    result, outcome, _ = await run_retention(resource_from_body(manifest_body))
    orphans = result["orphans"]
    assert orphans["status"] == "failed"
    assert orphans["reason"].startswith("storage did not answer (StorageUnreachable)")
    assert (orphans["candidates"], orphans["deleted"]) == (0, 0)
    assert outcome == "PartiallyFailed"


async def test_a_gen_b_server_owns_deletion_so_candidates_are_reported_not_deleted(emulator: ServerFactory) -> None:
    payloads = emulator("B")
    seed(payloads)
    before = payloads.existing()
    result, outcome, message = await run_retention(
        resource_of(payloads.server, payloads.root, orphanAudit={"mode": "Delete"})
    )
    orphans = result["orphans"]
    assert orphans["candidates"] == 3  # Gen B references carry no URI: keys come from prefix and sha256
    assert orphans["referenced"] == 4
    assert orphans["deleted"] == 0
    assert orphans["deletion"].startswith("refused: namespace orders is served by a Gen B server")
    assert payloads.existing() == before
    assert outcome == "PartiallyFailed"
    assert "Gen B" in message


async def test_an_inlining_server_makes_references_unobservable_so_nothing_is_an_orphan(
    emulator: ServerFactory,
) -> None:
    payloads = emulator(profile="references", inline_payloads=True)
    seed(payloads)
    before = payloads.existing()
    result, outcome, message = await run_retention(
        resource_of(payloads.server, payloads.root, orphanAudit={"mode": "Delete"})
    )
    orphans = result["orphans"]
    assert orphans["status"] == "skipped"
    assert orphans["reason"].startswith("references not observable: namespace orders returns")
    assert (orphans["candidates"], orphans["candidateBytes"], orphans["deleted"]) == (0, 0, 0)
    assert payloads.existing() == before
    assert outcome == "PartiallyFailed"
    assert "references not observable" in message
    assert message.count("orphan audit skipped") == 1  # the reason is said once


async def test_a_server_without_a_discovery_block_is_not_trusted_either(emulator: ServerFactory) -> None:
    payloads = emulator(profile="references", discovery=False)
    seed(payloads)
    before = payloads.existing()
    result, _, _ = await run_retention(resource_of(payloads.server, payloads.root, orphanAudit={"mode": "Delete"}))
    assert result["orphans"]["status"] == "skipped"
    assert "advertises no payload reference schema" in result["orphans"]["reason"]
    assert payloads.existing() == before


async def test_references_outside_the_bucket_are_counted_invalid_and_never_followed(
    emulator: ServerFactory, tmp_path: Path
) -> None:
    payloads = emulator(profile="references")
    seed(payloads)
    elsewhere = tmp_path / "elsewhere"
    outside = elsewhere / payload_key("", "ab" * 32)
    outside.parent.mkdir(parents=True)
    outside.write_text("not ours")
    age_file(outside, 7200)
    envelope = payloads.server.reference_envelope(outside.as_uri(), "not ours")
    payloads.server.add_workflow("orders", "points-elsewhere", input=envelope)
    payloads.server.add_workflow(
        "orders",
        "other-bucket",
        input=payloads.server.reference_envelope(f"s3://other/{payload_key('', 'cd' * 32)}", "x"),
    )
    result, _, _ = await run_retention(resource_of(payloads.server, payloads.root, orphanAudit={"mode": "Delete"}))
    assert result["orphans"]["invalidReferences"] == 4  # two runs, each reference seen in two events
    assert result["orphans"]["deleted"] == 3
    assert outside.read_text() == "not ours"


async def test_shards_split_the_work_and_add_up_to_the_whole(emulator: ServerFactory) -> None:
    payloads = emulator(profile="references")
    seed(payloads)
    for _ in range(12):
        payloads.orphan()
    whole, _, _ = await run_retention(resource_of(payloads.server, payloads.root))
    split, _, _ = await run_retention(resource_of(payloads.server, payloads.root), shards=3)
    for name in ("listed", "referenced", "young", "candidates", "candidateBytes", "references"):
        assert split["orphans"][name] == whole["orphans"][name], name
    assert split["shards"] == 3
    assert split["serverPasses"] == whole["serverPasses"]
