"""Unique, DNS-safe names for objects in shared (session-scoped) servers."""

from __future__ import annotations

import re
import secrets


def unique_name(prefix: str = "t", max_length: int = 63) -> str:
    """``<prefix>-<6 hex>``, lower-case, only [a-z0-9-], at most ``max_length`` chars (bucket, namespace...)."""
    suffix = secrets.token_hex(3)
    slug = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-") or "t"
    slug = slug[: max_length - len(suffix) - 1].rstrip("-")
    return f"{slug}-{suffix}"
