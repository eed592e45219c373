"""The sweep half of the orphan audit: what each listed payload object is, and whether it may be deleted.

Pure, so the one rule that matters is tested for arbitrary inputs: an object is a deletion candidate
only when its key is a well-formed payload key, no reference names it, and it is older than the grace
period. The grace period is checked again just before deleting, on a fresh `stat`, because a content-
addressed object can be written again (and referenced) after it was listed.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from payload_operator.planning.keys import sha256_of_key
from payload_operator.planning.objects import ObjectInfo

_DURATION_PART = re.compile(r"([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SAMPLE = 10


def parse_duration(text: str) -> timedelta:
    """ "72h", "1d12h", "90s" (the spec's duration pattern) as a timedelta."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"duration {text!r}: want e.g. 72h, 3d or 1h30m")
    return timedelta(seconds=sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts))


class ObjectClass(StrEnum):
    """What one listed object is."""

    REFERENCED = "referenced"
    YOUNG = "young"
    CANDIDATE = "candidate"
    FOREIGN = "foreign"
    """Not a payload key (temporary upload files, stray objects): never touched."""


def classify(info: ObjectInfo, *, referenced: bool, prefix: str, now: datetime, min_age: timedelta) -> ObjectClass:
    """The class of one listed object."""
    if sha256_of_key(prefix, info.key) is None:
        return ObjectClass.FOREIGN
    if referenced:
        return ObjectClass.REFERENCED
    if now - info.last_modified < min_age:
        return ObjectClass.YOUNG
    return ObjectClass.CANDIDATE


def still_deletable(current: ObjectInfo | None, *, now: datetime, min_age: timedelta) -> bool:
    """The re-check at delete time: the object still exists and was not rewritten within the grace period."""
    return current is not None and now - current.last_modified >= min_age


@dataclass
class SweepTally:
    """Counts and bytes per class (storage usage is reported from them), plus the first few candidate keys."""

    listed: int = 0
    counts: dict[ObjectClass, int] = field(default_factory=lambda: dict.fromkeys(ObjectClass, 0))
    bytes: dict[ObjectClass, int] = field(default_factory=lambda: dict.fromkeys(ObjectClass, 0))
    sample: list[str] = field(default_factory=list)

    @property
    def candidate_bytes(self) -> int:
        """Bytes of the deletion candidates."""
        return self.bytes[ObjectClass.CANDIDATE]

    def add(self, info: ObjectInfo, object_class: ObjectClass) -> None:
        """Count one classified object."""
        self.listed += 1
        self.counts[object_class] += 1
        self.bytes[object_class] += info.size
        if object_class is ObjectClass.CANDIDATE and len(self.sample) < SAMPLE:
            self.sample.append(info.key)


def plan(
    listed: Iterable[ObjectInfo],
    referenced_keys: Container[str],
    *,
    prefix: str,
    now: datetime,
    min_age: timedelta,
    tally: SweepTally,
) -> list[ObjectInfo]:
    """Classify a batch of listed objects into `tally`; return the deletion candidates among them."""
    candidates = []
    for info in listed:
        object_class = classify(info, referenced=info.key in referenced_keys, prefix=prefix, now=now, min_age=min_age)
        tally.add(info, object_class)
        if object_class is ObjectClass.CANDIDATE:
            candidates.append(info)
    return candidates
