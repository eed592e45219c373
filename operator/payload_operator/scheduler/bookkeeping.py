"""How a run kind's status block (`status.retention`, `status.integrity`) moves from one state to the next.

Pure transitions over the `RunBookkeeping` model: scheduled, started, skipped, finished. The active
run is recorded with everything needed to finish it later (runner, shard count, Job names, deadline),
so a restarted operator can pick up a run it did not start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from payload_operator.api.status import RunBookkeeping, RunSummary
from payload_operator.core.timefmt import format_time, parse_time
from payload_operator.scheduler.results import Conclusion, camelized

RECENT_RUNS = 10  # the status model's bound


@dataclass(frozen=True)
class ActiveRun:
    """A run in progress, as `activeRun` records it."""

    id: str
    start_time: datetime
    runner: str
    shards: int
    deadline: datetime
    jobs: tuple[str, ...] = ()

    def to_status(self) -> dict[str, str]:
        """The `activeRun` map (string values only, as the schema says)."""
        return {
            "id": self.id,
            "startTime": format_time(self.start_time),
            "runner": self.runner,
            "shards": str(self.shards),
            "deadline": format_time(self.deadline),
            "jobs": ",".join(self.jobs),
        }

    @classmethod
    def from_status(cls, raw: Mapping[str, str] | None) -> ActiveRun | None:
        """The active run recorded in status, or None (also for a record too damaged to finish)."""
        if not raw or not raw.get("id"):
            return None
        start, deadline = parse_time(raw.get("startTime")), parse_time(raw.get("deadline"))
        shards = str(raw.get("shards", ""))
        if start is None or deadline is None or not shards.isdigit() or int(shards) < 1:
            return None
        jobs = tuple(j for j in str(raw.get("jobs", "")).split(",") if j)
        return cls(str(raw["id"]), start, str(raw.get("runner", "")), int(shards), deadline, jobs)


def read(raw: Any) -> RunBookkeeping:
    """The block from status; a missing or unreadable one starts afresh (it is only bookkeeping)."""
    if not isinstance(raw, dict):
        return RunBookkeeping()
    try:
        return RunBookkeeping.model_validate(raw)
    except ValidationError:
        return RunBookkeeping()


def scheduled(book: RunBookkeeping, effective_schedule: str | None, next_run: datetime | None) -> RunBookkeeping:
    """The schedule in force and the next due time (None while suspended or unscheduled)."""
    return book.model_copy(
        update={
            "effective_schedule": effective_schedule,
            "next_run_time": format_time(next_run) if next_run else None,
        }
    )


def started(book: RunBookkeeping, run: ActiveRun) -> RunBookkeeping:
    """A run began: it is active and counts as the last run."""
    return book.model_copy(update={"active_run": run.to_status(), "last_run_time": format_time(run.start_time)})


def skipped(book: RunBookkeeping, now: datetime) -> RunBookkeeping:
    """A due run was skipped because another was still active."""
    return book.model_copy(update={"last_skipped_time": format_time(now)})


def finished(book: RunBookkeeping, run: ActiveRun, conclusion: Conclusion, now: datetime) -> RunBookkeeping:
    """A run ended: its result becomes the last result and heads the recent runs."""
    summary = RunSummary(
        start_time=format_time(run.start_time),
        completion_time=format_time(now),
        result=conclusion.outcome.value,
        message=conclusion.message[:1024],
        job_names=list(run.jobs[:16]),
    )
    update: dict[str, Any] = {
        "active_run": None,
        "last_result": last_result(run, conclusion, now),
        "recent_runs": [summary, *book.recent_runs][:RECENT_RUNS],
    }
    if conclusion.outcome.value == "Succeeded":
        update["last_successful_time"] = format_time(run.start_time)
    return book.model_copy(update=update)


def last_result(run: ActiveRun, conclusion: Conclusion, now: datetime) -> dict[str, object]:
    """The merged result in status spelling, with the run's identity, duration and Jobs."""
    result: dict[str, object] = camelized(conclusion.result)
    return result | {
        "runId": run.id,
        "result": conclusion.outcome.value,
        "message": conclusion.message[:1024],
        "durationSeconds": round((now - run.start_time).total_seconds(), 3),
        "jobNames": list(run.jobs),
    }
