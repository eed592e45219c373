"""How much the operator does at once, from its settings (chart `config.maxReconcileWorkers`)."""

from __future__ import annotations

import asyncio

import kopf

from payload_operator.core.config import OperatorConfig


def apply_concurrency(settings: kopf.OperatorSettings, memo: kopf.Memo, config: OperatorConfig) -> None:
    """Bound the work in flight: Kopf's per-resource workers for events, and one shared set of slots that
    event handlers, timer ticks and deletions take (Kopf's timers do not go through its worker queue)."""
    settings.queueing.worker_limit = config.max_reconcile_workers
    memo.reconcile_slots = asyncio.Semaphore(config.max_reconcile_workers)
