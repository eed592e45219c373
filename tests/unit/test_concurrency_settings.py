"""The concurrency settings reach what they bound: Kopf's workers, the shared reconcile slots, shard slots."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest
from devkit.waiting import async_wait_for
from prometheus_client import REGISTRY

from payload_operator.core.concurrency import apply_concurrency
from payload_operator.core.config import OperatorConfig
from payload_operator.scheduler.framework import RunnerState
from payload_operator.scheduler.inprocess_runner import RunKey, ShardWork
from payload_operator.scheduler.results import ShardOutcome, failed


def test_settings_come_from_the_environment_like_the_chart_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYLOAD_OPERATOR_MAX_RECONCILE_WORKERS", "7")
    monkeypatch.setenv("PAYLOAD_OPERATOR_MAX_IN_PROCESS_SHARDS", "3")
    monkeypatch.setenv("PAYLOAD_OPERATOR_NAMESPACE_SYNC_CONCURRENCY", "2")
    config = OperatorConfig()
    assert (config.max_reconcile_workers, config.max_in_process_shards, config.namespace_sync_concurrency) == (7, 3, 2)


def _pool(series: str, pool: str) -> float | None:
    return REGISTRY.get_sample_value(f"payload_operator_work_{series}", {"pool": pool})


async def test_reconcile_workers_bound_kopf_and_the_shared_slots_and_show_on_metrics() -> None:
    settings, memo = kopf.OperatorSettings(), kopf.Memo()
    apply_concurrency(settings, memo, OperatorConfig(max_reconcile_workers=2))
    assert settings.queueing.worker_limit == 2
    assert settings.queueing.idle_timeout < 1, "an idle worker gives its slot back soon"
    in_flight = peak = 0
    seen: list[tuple[float | None, float | None]] = []

    async def reconcile() -> None:
        nonlocal in_flight, peak
        async with memo.reconcile_slots:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            seen.append((_pool("in_flight", "reconcile"), _pool("waiting", "reconcile")))
            in_flight -= 1

    await asyncio.gather(*(reconcile() for _ in range(6)))
    assert peak == 2
    assert seen[0] == (2.0, 4.0), "two in flight, four waiting, as /metrics shows it"
    assert (_pool("in_flight", "reconcile"), _pool("waiting", "reconcile"), _pool("limit", "reconcile")) == (0, 0, 2)


async def test_in_process_shards_wait_for_a_slot() -> None:
    state = RunnerState(max_concurrent_shards=1)
    key = RunKey("uid-1", "integrity", "run-1")
    in_flight = peak = 0

    def shard(index: int) -> ShardWork:
        async def work() -> ShardOutcome[Any]:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return failed(index, "done")

        return work

    state.in_process.start(key, [shard(i) for i in range(3)])
    outcomes = await async_wait_for(lambda: state.in_process.outcomes(key), 30, interval=0.01)
    await state.close()
    assert [o.index for o in outcomes] == [0, 1, 2]
    assert peak == 1
