"""The local read path (one reused buffer per thread) and the batching of checks per pool task."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payload_operator.adapters.storage.local import LocalStore
from payload_operator.adapters.storage.s3 import S3Store
from payload_operator.core.cpus import usable_cpus
from payload_operator.tasks.integrity.hashing import BUFFER_SIZE, Check, Problem, ReadsInto, read_workers, verify
from payload_operator.tasks.integrity.run import BATCH_BYTES, BATCH_OBJECTS, GUESSED_BYTES, _Batches


def test_the_local_store_fills_a_buffer_and_is_hashed_through_it() -> None:
    assert isinstance(LocalStore("/nonexistent"), ReadsInto)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.binary(min_size=0, max_size=3000), min_size=1, max_size=4),
    st.integers(min_value=0),
    st.integers(min_value=1, max_value=6),
)
def test_a_reused_buffer_never_carries_one_object_into_the_next(
    tmp_path_factory: pytest.TempPathFactory, contents: list[bytes], where: int, chunk_exp: int
) -> None:
    """Objects of any sizes verified one after another on one thread (big, then small: the buffer
    still holds the big one's bytes) each hash to exactly their own bytes; a flipped bit is found."""
    root = tmp_path_factory.mktemp("store")
    store, chunk = LocalStore(str(root)), 4**chunk_exp
    for index, data in enumerate(contents):
        (root / f"o{index}").write_bytes(data)
        verdict = verify(store, Check(f"o{index}", hashlib.sha256(data).hexdigest(), (len(data),)), chunk)
        assert (verdict.problem, verdict.bytes_read) == (None, len(data))
    data = contents[0]
    if data:
        damaged = bytearray(data)
        damaged[where % len(data)] ^= 0x01
        (root / "o0").write_bytes(damaged)
        verdict = verify(store, Check("o0", hashlib.sha256(data).hexdigest()), chunk)
        assert (verdict.problem, verdict.actual_sha256) == (Problem.HASH, hashlib.sha256(damaged).hexdigest())


def test_an_object_of_many_buffer_fills_hashes_whole_with_the_default_buffer(tmp_path: Path) -> None:
    data = os.urandom(3 * BUFFER_SIZE + 7)
    (tmp_path / "big").write_bytes(data)
    verdict = verify(LocalStore(str(tmp_path)), Check("big", hashlib.sha256(data).hexdigest(), (len(data),)))
    assert (verdict.problem, verdict.bytes_read) == (None, len(data))


def test_local_reads_run_at_most_two_per_cpu_and_remote_reads_as_many_as_asked() -> None:
    """Local hashing is CPU-bound: `concurrency: 256` must not put 256 threads on a 2-core node."""
    cpus = usable_cpus()
    assert read_workers(LocalStore("/nonexistent"), 256) == min(256, 2 * cpus)
    assert read_workers(LocalStore("/nonexistent"), 1) == 1
    assert read_workers(S3Store.__new__(S3Store), 256) == 256


def test_missing_objects_and_directories_are_missing_on_the_buffer_path(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    store = LocalStore(str(tmp_path))
    assert verify(store, Check("gone", "0" * 64)).problem is Problem.MISSING
    assert verify(store, Check("dir", "0" * 64)).problem is Problem.MISSING


class _Recorder:
    """Stands in for the pool: remembers each submitted batch's keys."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def submit(self, batch: list[Check]) -> None:
        self.batches.append([check.key for check in batch])


def test_small_objects_share_a_task_and_a_large_one_goes_alone() -> None:
    recorder = _Recorder()
    batches = _Batches(recorder)  # type: ignore[arg-type]

    async def feed() -> None:
        for index in range(BATCH_OBJECTS + 1):
            await batches.add(Check(f"small{index}", "0" * 64), 1)
        await batches.add(Check("large", "0" * 64), BATCH_BYTES)
        await batches.add(Check("claimed", "0" * 64, (BATCH_BYTES,)))  # sized by its references
        await batches.add(Check("unsized", "0" * 64))
        await batches.flush()
        await batches.flush()  # nothing left: no empty task

    asyncio.run(feed())
    assert recorder.batches == [
        [f"small{index}" for index in range(BATCH_OBJECTS)],
        [f"small{BATCH_OBJECTS}", "large"],
        ["claimed"],
        ["unsized"],
    ]
    assert GUESSED_BYTES < BATCH_BYTES
