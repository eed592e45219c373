"""Per-resource retry pacing: a failing resource is retried with doubling delays, never hot-looped."""

from __future__ import annotations

import random
from dataclasses import dataclass


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
        delay = max(min(self.cap, self.base * 2.0 ** (self.failures - 1)) * jitter, retry_after or 0.0)
        self.next_attempt = now + delay
        return delay

    def succeeded(self) -> None:
        """Reset after a success."""
        self.failures = 0
        self.next_attempt = 0.0

    def due(self, now: float) -> bool:
        """Whether an attempt is allowed now."""
        return now >= self.next_attempt
