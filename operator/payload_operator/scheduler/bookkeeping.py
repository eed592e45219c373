"""How a run kind's status block (`status.retention`, `status.integrity`) moves from one state to the next.

Pure transitions over the kind's `RunBookkeeping` model: scheduled, started, skipped, finished. The
active run (api/results.py `ActiveRun`) is recorded with everything needed to finish it later (runner,
shard count, Job names, deadline), so a restarted operator can pick up a run it did not start, also
one the previous version started.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from payload_operator.api.results import ActiveRun, RunOutcome
from payload_operator.api.status import RunBookkeeping, RunSummary
from payload_operator.core.timefmt import format_time
from payload_operator.scheduler.results import Conclusion

RECENT_RUNS = 10  # the status model's bound
B = TypeVar("B", bound=RunBookkeeping)


def read(raw: Any, model: type[B]) -> B:
    """The block from status; a missing or unreadable one starts afresh (it is only bookkeeping)."""
    if not isinstance(raw, dict):
        return model()
    try:
        return model.model_validate(raw)
    except ValidationError:
        return model()


def scheduled(book: B, effective_schedule: str | None, next_run: datetime | None) -> B:
    """The schedule in force and the next due time (None while suspended or unscheduled)."""
    return book.model_copy(
        update={
            "effective_schedule": effective_schedule,
            "next_run_time": format_time(next_run) if next_run else None,
        }
    )


def started(book: B, run: ActiveRun) -> B:
    """A run began: it is active and counts as the last run."""
    return book.model_copy(update={"active_run": run, "last_run_time": format_time(run.start_time)})


def skipped(book: B, now: datetime) -> B:
    """A due run was skipped because another was still active."""
    return book.model_copy(update={"last_skipped_time": format_time(now)})


def finished(book: B, run: ActiveRun, conclusion: Conclusion[Any], now: datetime) -> B:
    """A run ended: its result becomes the last result and heads the recent runs."""
    summary = RunSummary(
        start_time=format_time(run.start_time),
        completion_time=format_time(now),
        result=conclusion.outcome,
        message=conclusion.message[:1024],
        job_names=run.job_names[:16],
    )
    update: dict[str, Any] = {
        "active_run": None,
        "last_result": last_result(book, run, conclusion, now),
        "recent_runs": [summary, *book.recent_runs][:RECENT_RUNS],
    }
    if conclusion.outcome is RunOutcome.SUCCEEDED:
        update["last_successful_time"] = format_time(run.start_time)
    return book.model_copy(update=update)


def last_result(book: RunBookkeeping, run: ActiveRun, conclusion: Conclusion[Any], now: datetime) -> Any:
    """The merged result with the run's identity, duration and Jobs, as the block's last-result model.

    A run without any shard result records only that (no counts of zero it never measured)."""
    record: dict[str, Any] = {
        "run_id": run.id,
        "result": conclusion.outcome,
        "message": conclusion.message[:1024],
        "duration_seconds": round((now - run.start_time).total_seconds(), 3),
        "job_names": run.job_names[:16],
    }
    if conclusion.failed_shards:
        record["failed_shards"] = dict(conclusion.failed_shards)
    measured = conclusion.result.model_dump() if conclusion.result is not None else {}
    return book.last_result_model.model_validate(measured | record)
