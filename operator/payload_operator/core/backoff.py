"""Per-resource retry pacing: a failing resource is retried with doubling delays, never hot-looped."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

RETRY_AFTER_CAP = 900.0
"""Longest Retry-After honoured (seconds): a server asking for more (or for "inf") is retried after this."""


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
        asked = min(retry_after, RETRY_AFTER_CAP) if retry_after is not None and math.isfinite(retry_after) else 0.0
        delay = max(min(self.cap, self.base * 2.0 ** (self.failures - 1)) * jitter, asked)
        self.next_attempt = now + delay
        return delay

    def succeeded(self) -> None:
        """Reset after a success."""
        self.failures = 0
        self.next_attempt = 0.0

    def due(self, now: float) -> bool:
        """Whether an attempt is allowed now."""
        return now >= self.next_attempt
