"""What a listing says about one stored object: a value shared by the storage adapters and the planners."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One listed object."""

    key: str
    size: int
    last_modified: datetime
