"""When runs are due: Velero's rule (no catch-up bursts, skip while active) and k8up's stable randomizer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payload_operator.planning.schedule import (
    Action,
    ScheduleError,
    decide,
    effective_schedule,
    next_after,
    random_seed,
)

CREATED = datetime(2026, 3, 1, 9, 17, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "expression"),
    [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"), ("15 2 * * 1-5", "15 2 * * 1-5")],
)
def test_macros_and_cron_expressions_are_accepted(schedule: str, expression: str) -> None:
    assert effective_schedule(schedule, "ns/name/retention") == expression


@pytest.mark.parametrize("schedule", ["* * * * * *", "61 * * * *", "every day", "@fortnightly", "@fortnightly-random"])
def test_anything_else_is_refused_with_the_schedule_named(schedule: str) -> None:
    with pytest.raises(ScheduleError, match="schedule"):
        effective_schedule(schedule, "ns/name/retention")


def test_random_schedules_are_stable_per_resource_and_kind_and_spread_across_them() -> None:
    seed = random_seed("team-a", "payloads", "retention")
    assert effective_schedule("@daily-random", seed) == effective_schedule("@daily-random", seed)
    spread = {effective_schedule("@daily-random", random_seed("team-a", f"p{i}", "retention")) for i in range(50)}
    assert len(spread) > 40
    other_kind = effective_schedule("@daily-random", random_seed("team-a", "payloads", "integrity"))
    assert other_kind != effective_schedule("@daily-random", seed)


@given(st.text(min_size=1, max_size=80))
def test_randomized_monthly_runs_never_pick_a_day_some_month_lacks(seed: str) -> None:
    minute, hour, day, month, weekday = effective_schedule("@monthly-random", seed).split()
    assert 0 <= int(minute) < 60
    assert 0 <= int(hour) < 24
    assert 1 <= int(day) <= 27
    assert (month, weekday) == ("*", "*")


@given(st.text(min_size=1, max_size=80))
def test_randomized_schedules_keep_the_period_of_their_macro(seed: str) -> None:
    assert effective_schedule("@hourly-random", seed).split()[1:] == ["*", "*", "*", "*"]
    assert effective_schedule("@weekly-random", seed).split()[2:4] == ["*", "*"]


def test_a_resource_that_never_ran_is_due_at_once() -> None:
    decision = decide("0 0 * * *", created=CREATED, last_run=None, last_skipped=None, now=CREATED, active=False)
    assert decision.action is Action.START
    assert decision.occurrence == CREATED
    assert decision.next_run_time == at("2026-03-02T00:00:00")


def test_the_next_run_waits_for_the_next_occurrence_after_the_last_run() -> None:
    decision = decide(
        "0 0 * * *",
        created=CREATED,
        last_run=at("2026-03-02T00:00:03"),
        last_skipped=None,
        now=at("2026-03-02T23:59:59"),
        active=False,
    )
    assert decision.action is Action.WAIT
    assert decision.next_run_time == at("2026-03-03T00:00:00")


def test_missed_occurrences_are_never_replayed_in_a_burst() -> None:
    """Ten days down: one run now, then the schedule continues from now."""
    now = at("2026-03-12T08:30:00")
    first = decide(
        "0 * * * *", created=CREATED, last_run=at("2026-03-02T00:00:00"), last_skipped=None, now=now, active=False
    )
    assert first.action is Action.START
    assert first.next_run_time == at("2026-03-12T09:00:00")
    again = decide(
        "0 * * * *", created=CREATED, last_run=now, last_skipped=None, now=now + timedelta(minutes=1), active=False
    )
    assert again.action is Action.WAIT


def test_a_due_run_is_skipped_while_one_is_active_and_counted_from_the_skip() -> None:
    now = at("2026-03-03T00:00:05")
    decision = decide(
        "0 0 * * *", created=CREATED, last_run=at("2026-03-02T00:00:01"), last_skipped=None, now=now, active=True
    )
    assert decision.action is Action.SKIP
    assert decision.next_run_time == at("2026-03-04T00:00:00")
    after_skip = decide(
        "0 0 * * *", created=CREATED, last_run=at("2026-03-02T00:00:01"), last_skipped=now, now=now, active=False
    )
    assert after_skip.action is Action.WAIT  # the skipped occurrence is not run late when the active one ends


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=0, max_value=10_000_000),
    st.sampled_from(["*/5 * * * *", "0 * * * *", "0 0 * * *", "30 4 * * 1", "0 0 1 * *"]),
)
def test_a_run_started_now_is_never_due_again_before_its_next_occurrence(
    last_run: datetime, elapsed: int, expression: str
) -> None:
    now = last_run + timedelta(seconds=elapsed)
    started = decide(expression, created=CREATED, last_run=last_run, last_skipped=None, now=now, active=False)
    if started.action is not Action.START:
        return
    right_after = decide(expression, created=CREATED, last_run=now, last_skipped=None, now=now, active=False)
    assert right_after.action is Action.WAIT
    assert right_after.next_run_time == next_after(expression, now) == started.next_run_time
