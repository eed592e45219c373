"""How soon a failing resource is tried again: doubling from the base to the cap, and a server's Retry-After."""

from __future__ import annotations

import math

import pytest

from payload_operator.core.backoff import RETRY_AFTER_CAP, Backoff

BASE, CAP = 5.0, 300.0


def test_delays_double_from_the_base_to_the_cap_with_jitter() -> None:
    backoff = Backoff(BASE, CAP)
    delays = [backoff.failed(0.0) for _ in range(8)]
    for attempt, delay in enumerate(delays):
        expected = min(CAP, BASE * 2**attempt)
        assert 0.8 * expected <= delay <= 1.2 * expected, (attempt, delay)


def test_a_resource_failing_for_weeks_keeps_its_capped_pace() -> None:
    backoff = Backoff(BASE, CAP)
    for _ in range(5000):  # 2.0 ** 4999 would overflow
        delay = backoff.failed(0.0)
    assert 0.8 * CAP <= delay <= 1.2 * CAP


def test_the_next_attempt_waits_for_the_delay_and_success_resets() -> None:
    backoff = Backoff(BASE, CAP)
    delay = backoff.failed(100.0)
    assert backoff.next_attempt == 100.0 + delay
    backoff.succeeded()
    assert (backoff.failures, backoff.next_attempt) == (0, 0.0)
    assert backoff.failed(0.0) <= 1.2 * BASE, "after a success the delays start from the base again"


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    assert Backoff(BASE, CAP).failed(0.0, retry_after=60.0) == 60.0
    assert Backoff(BASE, CAP).failed(0.0, retry_after=1.0) <= 1.2 * BASE, "a shorter Retry-After never hurries"


@pytest.mark.parametrize("asked", [math.inf, 1e12, RETRY_AFTER_CAP + 1])
def test_an_infinite_or_huge_retry_after_waits_the_longest_honoured_time(asked: float) -> None:
    """A server asking to wait forever is asked again after RETRY_AFTER_CAP, not after the base (once ~6 s)."""
    assert Backoff(BASE, CAP).failed(0.0, retry_after=asked) == RETRY_AFTER_CAP


@pytest.mark.parametrize("asked", [math.nan, -30.0, -math.inf, 0.0])
def test_a_meaningless_retry_after_falls_back_to_the_backoff(asked: float) -> None:
    delay = Backoff(BASE, CAP).failed(0.0, retry_after=asked)
    assert 0.8 * BASE <= delay <= 1.2 * BASE
