"""Driving the server's own retention: passes until the backlog is gone, within a budget, failures kept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payload_operator.tasks.retention import server_passes
from tests.retention.conftest import Payloads, ServerFactory, resource_of, run_retention

NO_AUDIT = {"orphanAudit": {"enabled": False}}


def expire(payloads: Payloads, namespace: str, count: int) -> list[str]:
    """`count` finished runs, each owning an offloaded payload, closed long before the retention cutoff."""
    closed = payloads.server.now() - timedelta(days=45)
    run_ids = []
    for i in range(count):
        envelope = payloads.server.store_payload(namespace, payloads.blob(f"expired-{namespace}-{i}"))
        run_ids += payloads.server.add_workflow(namespace, f"expired-{namespace}-{i}", input=envelope, closed_at=closed)
    return run_ids


async def test_passes_repeat_until_the_server_reports_no_expired_runs(emulator: ServerFactory) -> None:
    payloads = emulator(profile="references")
    expire(payloads, "orders", 5)
    expire(payloads, "billing", 2)
    payloads.workflow("orders", "recent")
    result, outcome, message = await run_retention(
        resource_of(payloads.server, payloads.root, maxRunsPerPass=2, **NO_AUDIT)
    )
    passes = result["serverPasses"]
    assert (passes["status"], passes["runsPruned"], passes["payloadsDeleted"]) == ("ok", 7, 7)
    assert passes["passes"] == 4  # orders: 2 + 2 + 1, billing: 2
    assert passes["expiredRemaining"] == 0
    assert len(payloads.server.run_ids("orders")) == 1
    assert outcome == "Succeeded"
    assert message.startswith("server pruned 7 runs (0 skipped, 0 failed) and deleted 7 payloads")


async def test_runs_the_server_cannot_prune_are_a_partial_failure_with_their_reasons(emulator: ServerFactory) -> None:
    payloads = emulator(profile="references")
    expire(payloads, "orders", 3)
    payloads.server.faults.storage_errors = True  # deleting the payloads throws: outcome "error", HTTP 207
    result, outcome, message = await run_retention(resource_of(payloads.server, payloads.root, **NO_AUDIT))
    passes = result["serverPasses"]
    assert passes["status"] == "partial"
    assert (passes["runsPruned"], passes["runsFailed"]) == (0, 3)
    assert passes["passes"] == 1  # no progress: asking again would not help
    assert passes["expiredRemaining"] == 3
    assert all(reason.startswith("orders/") and ": error: " in reason for reason in passes["reasons"])
    assert outcome == "PartiallyFailed"
    assert "Injected storage failure" in message


async def test_the_pass_budget_bounds_one_run_and_says_so(
    emulator: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_passes, "MAX_PASSES", 2)
    payloads = emulator(profile="references")
    expire(payloads, "orders", 5)
    result, outcome, _ = await run_retention(resource_of(payloads.server, payloads.root, maxRunsPerPass=2, **NO_AUDIT))
    passes = result["serverPasses"]
    assert (passes["runsPruned"], passes["expiredRemaining"], passes["budgetExhausted"]) == (4, 1, ["orders"])
    assert outcome == "PartiallyFailed"


async def test_gen_b_also_reclaims_expired_unclaimed_uploads(emulator: ServerFactory) -> None:
    payloads = emulator("B")
    for i in range(3):
        payloads.server.upload_payload("orders", payloads.blob(f"abandoned-{i}"))
    payloads.server.advance_clock(2 * 3600)
    result, outcome, message = await run_retention(resource_of(payloads.server, payloads.root, **NO_AUDIT))
    passes = result["serverPasses"]
    assert (passes["cleanupPasses"], passes["cleanupObjectsDeleted"], passes["cleanupBacklog"]) == (1, 3, 0)
    assert payloads.server.uploads("orders") == []
    assert outcome == "Succeeded"
    assert "cleanup deleted 3 uploads" in message


async def test_a_dry_run_only_reads_the_backlog(emulator: ServerFactory) -> None:
    payloads = emulator("B")
    expire(payloads, "orders", 2)
    result, _, message = await run_retention(resource_of(payloads.server, payloads.root, **NO_AUDIT), dry_run=True)
    assert result["serverPasses"]["status"] == "dry_run"
    assert result["serverPasses"]["expiredRemaining"] == 2
    assert payloads.server.count(method="POST") == 0
    assert len(payloads.server.run_ids("orders")) == 2
    assert message.startswith("server: 2 expired runs (dry run, nothing pruned)")


async def test_an_unreachable_server_fails_the_run(emulator: ServerFactory) -> None:
    payloads = emulator(profile="references")
    payloads.server.faults.down = True
    result, outcome, message = await run_retention(resource_of(payloads.server, payloads.root))
    assert result["serverPasses"]["status"] == "failed"
    assert result["orphans"]["status"] == "failed"
    assert result["orphans"]["reason"].startswith("discovery failed: orders: cluster-info")
    assert outcome == "Failed"
    assert message.startswith("server passes failed: orders: GET /api/system/retention: ConnectError")
