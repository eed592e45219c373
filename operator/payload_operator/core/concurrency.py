"""How much the operator does at once, from its settings (chart `config.maxReconcileWorkers`)."""

from __future__ import annotations

import asyncio
from types import TracebackType

import kopf

from payload_operator.core import metrics
from payload_operator.core.config import OperatorConfig

WORKER_IDLE_SECONDS = 0.5
"""How long an idle Kopf worker waits for more events of its object before it gives its slot back."""


class Slots:
    """A bounded pool of work slots whose use shows on /metrics: in flight, waiting and the limit, by pool."""

    def __init__(self, pool: str, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._in_flight = metrics.WORK_IN_FLIGHT.labels(pool)
        self._waiting = metrics.WORK_WAITING.labels(pool)
        metrics.WORK_LIMIT.labels(pool).set(limit)

    async def __aenter__(self) -> None:
        self._waiting.inc()
        try:
            await self._slots.acquire()
        finally:
            self._waiting.dec()
        self._in_flight.inc()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._in_flight.dec()
        self._slots.release()


def apply_concurrency(settings: kopf.OperatorSettings, memo: kopf.Memo, config: OperatorConfig) -> None:
    """Bound the work in flight: Kopf's per-resource workers for events, and one shared set of slots that
    event handlers, timer ticks and deletions take (Kopf's timers do not go through its worker queue)."""
    settings.queueing.worker_limit = config.max_reconcile_workers
    # A Kopf worker holds its slot this long after its object's last event. At Kopf's 5 s, twenty slots let
    # only four new resources a second through, whatever the reconciles cost: 200 resources applied at once
    # went Ready twenty at a time, every 6 s, with the machine two-thirds idle.
    settings.queueing.idle_timeout = WORKER_IDLE_SECONDS
    memo.reconcile_slots = Slots("reconcile", config.max_reconcile_workers)
