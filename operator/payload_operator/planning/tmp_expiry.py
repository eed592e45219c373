"""Which temporary objects the operator's own sweep deletes (pure).

Used where no provider rule can do it (Azure without a management policy, local directories) or
where the spec asks for `mode: Sweep`. The caller sweeps only safe prefixes (see
`lifecycle.safe_key_prefixes`), and every listed key is checked against its prefix again, so a
listing that strays (a provider ignoring the prefix, a bug) can never reach a payload object.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def cutoff(now: datetime, expiration_days: int) -> datetime:
    """Objects last modified before this instant have expired."""
    return now - timedelta(days=expiration_days)


def expired(key: str, last_modified: datetime, prefix: str, before: datetime) -> bool:
    """Whether `key` lies under the swept (safe) `prefix` and was last modified before `before`."""
    return key.startswith(prefix) and last_modified < before
