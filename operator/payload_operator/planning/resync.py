"""When a healthy resource is checked for drift again: its resync interval, stretched by a per-resource jitter.

Resources applied together would otherwise resync together for ever: a thousand of them make one burst of
reads every interval and an idle operator in between. Each resource's interval is stretched by a fixed share
(0 to RESYNC_JITTER) derived from its uid, so their periods differ and the resyncs spread over the interval
within a few periods. Stretched, never shortened: a resource is not read more often than its spec asks.
"""

from __future__ import annotations

import hashlib

RESYNC_JITTER = 0.1
"""The largest stretch, as a share of the interval."""


def jitter_share(uid: str) -> float:
    """A stable number in [0, 1) for `uid`: the same on every tick and after a restart."""
    digest = hashlib.sha256(uid.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def resync_interval(configured: float, uid: str) -> float:
    """Seconds between drift checks of the resource with `uid`: `configured` stretched by its jitter."""
    return configured * (1 + RESYNC_JITTER * jitter_share(uid))
