"""Identifier generation: ULIDs (Crockford base32) as the real server mints them."""

from __future__ import annotations

import secrets
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last: list[int] = [0, 0]  # last timestamp, last random part


def ulid(now_ms: int | None = None) -> str:
    """Return a 26-character, upper-case, monotonic ULID."""
    ts = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        last_ts, last_rand = _last
        rand = last_rand + 1 if ts <= last_ts else secrets.randbits(80)
        ts = max(ts, last_ts)
        _last[:] = [ts, rand]
    value = ((ts & ((1 << 48) - 1)) << 80) | (rand & ((1 << 80) - 1))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def run_id() -> str:
    """Run/command ids: the server prints ULIDs in lower case (``01m7xhd50z…``)."""
    return ulid().lower()


def reference_id() -> str:
    """Gen B runtime reference id, ``ep_`` + upper-case ULID."""
    return "ep_" + ulid()
