"""When a scheduled run is due, decided from status alone (Velero's rule, k8up's randomizer).

A run is due when the next cron occurrence after the last run (or the last skip) has passed. Missed
occurrences are never replayed: one run covers them all, and the next occurrence is counted from when
that run started. A resource that has never run is due at once (its creation is the first occurrence),
so a new or newly scheduled resource reports results without waiting a day. Everything needed lives in
status, so an operator restart neither loses nor doubles a run.

`@daily-random` and friends resolve to a fixed cron expression derived from sha1 of the resource and
run kind, spreading many resources over the period while staying stable across restarts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from croniter import croniter

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
RANDOM_SUFFIX = "-random"
MAX_RANDOM_DAY_OF_MONTH = 27  # every month has it, so a randomized monthly run is never skipped (k8up)


class ScheduleError(ValueError):
    """A schedule that is not a 5-field cron expression or a known macro."""


def effective_schedule(schedule: str, seed: str) -> str:
    """The 5-field cron expression in force: macros expanded, `-random` resolved stably from `seed`."""
    text = schedule.strip()
    if text.endswith(RANDOM_SUFFIX) and text.startswith("@"):
        return _randomized(text.removesuffix(RANDOM_SUFFIX), seed)
    expression = MACROS.get(text, text)
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ScheduleError(f"schedule {schedule!r}: want 5 cron fields or @hourly/@daily/@weekly/@monthly/@yearly")
    return expression


def random_seed(namespace: str, name: str, kind: str) -> str:
    """What a randomized schedule is derived from: one resource's one kind of run."""
    return f"{namespace}/{name}/{kind}"


def _randomized(macro: str, seed: str) -> str:
    if macro not in MACROS:
        raise ScheduleError(f"schedule {macro}{RANDOM_SUFFIX}: unknown macro")
    number = int.from_bytes(hashlib.sha1(seed.encode(), usedforsecurity=False).digest(), "big")
    minute, number = number % 60, number // 60
    hour, number = number % 24, number // 24
    weekday, number = number % 7, number // 7
    day, number = number % MAX_RANDOM_DAY_OF_MONTH + 1, number // MAX_RANDOM_DAY_OF_MONTH
    month = number % 12 + 1
    return {
        "@hourly": f"{minute} * * * *",
        "@daily": f"{minute} {hour} * * *",
        "@midnight": f"{minute} {hour} * * *",
        "@weekly": f"{minute} {hour} * * {weekday}",
        "@monthly": f"{minute} {hour} {day} * *",
        "@yearly": f"{minute} {hour} {day} {month} *",
        "@annually": f"{minute} {hour} {day} {month} *",
    }[macro]


def next_after(expression: str, after: datetime) -> datetime:
    """The first occurrence of `expression` strictly after `after` (same timezone as `after`)."""
    following: datetime = croniter(expression, after).get_next(datetime)
    return following


def expected_interval(expression: str, now: datetime) -> float:
    """Seconds between the next two occurrences: what a "run is overdue" alert should compare against."""
    first = next_after(expression, now)
    return (next_after(expression, first) - first).total_seconds()


class Action(StrEnum):
    """What the scheduler should do now."""

    START = "Start"
    SKIP = "Skip"
    WAIT = "Wait"


@dataclass(frozen=True)
class Decision:
    """The verdict for one tick: the occurrence in question and the time to publish as nextRunTime."""

    action: Action
    occurrence: datetime
    next_run_time: datetime


def decide(
    expression: str,
    *,
    created: datetime,
    last_run: datetime | None,
    last_skipped: datetime | None,
    now: datetime,
    active: bool,
) -> Decision:
    """Start a due run, skip it while another is active, or wait for the next occurrence."""
    marks = [t for t in (last_run, last_skipped) if t is not None]
    occurrence = next_after(expression, max(marks)) if marks else created
    if occurrence > now:
        return Decision(Action.WAIT, occurrence, occurrence)
    return Decision(Action.SKIP if active else Action.START, occurrence, next_after(expression, now))
