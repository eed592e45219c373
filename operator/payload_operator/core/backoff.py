"""Retry pacing: a failing resource is retried with doubling delays, never hot-looped; Kubernetes API calls
are retried through an outage of any length."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

RETRY_AFTER_CAP = 900.0
"""Longest Retry-After honoured (seconds): a server asking for more (or for "inf") is retried after this."""

_MAX_DOUBLINGS = 32
"""Beyond this many doublings every delay is at the cap anyway; stopping there keeps 2**n from overflowing
for a resource that has failed for days."""


def honoured_retry_after(retry_after: float | None) -> float:
    """The wait a server's Retry-After imposes: at most RETRY_AFTER_CAP; none when absent, negative or NaN."""
    if retry_after is None or math.isnan(retry_after) or retry_after <= 0:
        return 0.0
    return min(retry_after, RETRY_AFTER_CAP)


@dataclass
class Backoff:
    """Consecutive failures and when the next attempt is allowed (monotonic seconds)."""

    base: float
    cap: float
    failures: int = 0
    next_attempt: float = 0.0

    def failed(self, now: float, retry_after: float | None = None) -> float:
        """Record a failure; return the delay until the next attempt (with jitter, honouring Retry-After)."""
        self.failures += 1
        jitter = random.uniform(0.8, 1.2)
        doubled = self.base * 2.0 ** min(self.failures - 1, _MAX_DOUBLINGS)
        delay = max(min(self.cap, doubled) * jitter, honoured_retry_after(retry_after))
        self.next_attempt = now + delay
        return delay

    def succeeded(self) -> None:
        """Reset after a success."""
        self.failures = 0
        self.next_attempt = 0.0


@dataclass(frozen=True)
class EndlessApiRetries:
    """Kopf's `error_backoffs` that never run out. Kopf gives up on an API call after its last backoff (54 s
    by default), and a failed discovery or peering call then stops the whole operator: an API outage longer
    than that would become a restart loop. With these the operator waits the outage out, its readiness probe
    saying so, and carries on when the API is back. Iterable again for every call."""

    first: tuple[float, ...] = (1, 1, 2, 3, 5, 8, 13, 21)
    then: float = 30.0

    def __iter__(self) -> Iterator[float]:
        return itertools.chain(self.first, itertools.repeat(self.then))
