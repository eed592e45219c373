"""The polling helpers: return the first truthy value, or fail with the last observation."""

from __future__ import annotations

import itertools

import pytest
from devkit.waiting import async_wait_for, wait_for


def test_wait_for_returns_first_truthy_value() -> None:
    counter = itertools.count()
    assert wait_for(lambda: [n] if (n := next(counter)) >= 3 else [], timeout=5, interval=0.001) == [3]


def test_wait_for_reports_last_value_on_timeout() -> None:
    with pytest.raises(AssertionError, match=r"never ready \(timed out after 0\.1s, \d+ polls; last value: 0\)"):
        wait_for(lambda: 0, timeout=0.1, interval=0.01, message="never ready")


def test_a_predicate_that_raises_counts_as_not_yet_and_its_error_is_reported_at_the_deadline() -> None:
    calls = itertools.count()

    def flaky() -> bool:
        if next(calls) < 2:
            raise ConnectionError("not yet")
        return True

    assert wait_for(flaky, timeout=5, interval=0.001) is True
    empty: dict[str, int] = {}
    with pytest.raises(AssertionError, match="last exception: KeyError: 'missing'"):
        wait_for(lambda: empty["missing"], timeout=0.05, interval=0.01)


async def test_async_wait_for_waits_through_a_raising_predicate() -> None:
    status: dict[str, dict[str, int]] = {}
    polls = itertools.count()

    async def runs() -> int:
        if next(polls) == 2:  # the block a busy operator writes only after a few polls
            status["retention"] = {"runs": 1}
        return status["retention"]["runs"]

    assert await async_wait_for(runs, timeout=5, interval=0.001) == 1
    with pytest.raises(AssertionError, match="last exception: KeyError"):
        await async_wait_for(lambda: status["integrity"], timeout=0.05, interval=0.01)


async def test_async_wait_for_accepts_sync_and_async_predicates() -> None:
    counter = itertools.count()

    async def ready() -> int:
        return 42 if next(counter) >= 2 else 0

    assert await async_wait_for(ready, timeout=5, interval=0.001) == 42
    assert await async_wait_for(lambda: "yes", timeout=1) == "yes"
    with pytest.raises(AssertionError, match="nope"):
        await async_wait_for(lambda: None, timeout=0.05, interval=0.01, message="nope")
