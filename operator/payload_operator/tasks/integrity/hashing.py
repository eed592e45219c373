"""Verify one payload object by streaming it through sha256: size and hash, never the whole object in memory.

The judgement mirrors the SDK's `fetch_external_payload` (contract §3): the size a reference claims is
compared first, then the sha256 of exactly the stored bytes. An object known only from a listing has no
claimed size; its key names the sha256 it must hash to.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from payload_operator.adapters.storage.base import ObjectStore, StorageError

CHUNK_SIZE = 1 << 20


@runtime_checkable
class ReadsInto(Protocol):
    """A store that can fill a caller's buffer (local files): no new bytes object per chunk."""

    def read_into(self, key: str, buffer: bytearray) -> Iterator[int]: ...


_buffers = threading.local()


class Problem(StrEnum):
    """What is wrong with an object or a reference, in the order a user should look at them."""

    MISSING = "missing"
    SIZE = "size"
    HASH = "hash"
    UNREADABLE = "unreadable"
    INVALID = "invalid"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Check:
    """One object to verify: its key, the sha256 it must hash to, and the sizes references claim for it."""

    key: str
    sha256: str
    sizes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one check; `problem` is None when the object is intact."""

    check: Check
    problem: Problem | None
    bytes_read: int = 0
    actual_sha256: str | None = None
    detail: str = ""

    @property
    def expected_size(self) -> int | None:
        """The claimed size that disagrees with the object (or the only claim), if any."""
        wrong = [size for size in self.check.sizes if size != self.bytes_read]
        return next(iter(wrong or self.check.sizes), None)


def judge(check: Check, actual_sha256: str, actual_size: int) -> Verdict:
    """Size against every claim first (as the SDK does), then the hash."""
    if any(size != actual_size for size in check.sizes):
        return Verdict(check, Problem.SIZE, actual_size, actual_sha256)
    if actual_sha256 != check.sha256:
        return Verdict(check, Problem.HASH, actual_size, actual_sha256)
    return Verdict(check, None, actual_size, actual_sha256)


def verify(store: ObjectStore, check: Check, chunk_size: int = CHUNK_SIZE) -> Verdict:
    """Read the object chunk by chunk, hashing as it streams; storage failures become verdicts."""
    digest = hashlib.sha256()
    size = 0
    try:
        if isinstance(store, ReadsInto):
            size = _hash_into(store, check.key, digest.update, chunk_size)
        else:
            for chunk in store.read_chunks(check.key, chunk_size):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return Verdict(check, Problem.MISSING, size)
    except StorageError as exc:
        return Verdict(check, Problem.UNREADABLE, size, detail=exc.reason)
    return judge(check, digest.hexdigest(), size)


def _hash_into(store: ReadsInto, key: str, update: Callable[[memoryview], None], chunk_size: int) -> int:
    """Hash through this thread's reused buffer. Why: a fresh 1 MiB bytes object per chunk cost about
    10% more user and 40-90% more system CPU than refilling one buffer (8,000 local files, 3.8 GiB, 2 cores)."""
    buffer: bytearray | None = getattr(_buffers, "buffer", None)
    if buffer is None or len(buffer) != chunk_size:
        buffer = _buffers.buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    size = 0
    for count in store.read_into(key, buffer):
        update(view[:count])
        size += count
    return size
