"""The pure and small parts of the integrity run: judging, key resolution, shards, counting, merging,
the reference set and the bounded pool."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devkit.waiting import async_wait_for
from hypothesis import given
from hypothesis import strategies as st

from payload_operator.adapters.history import Reference, object_key
from payload_operator.adapters.storage.base import StorageAccessDenied
from payload_operator.adapters.storage.local import LocalStore
from payload_operator.api.resource import resource_from_body
from payload_operator.api.results import RunOutcome, WalkCounts
from payload_operator.planning.keys import ReferenceOutsideStorage, listing_prefixes
from payload_operator.tasks.integrity.hashing import Check, Problem, judge, verify
from payload_operator.tasks.integrity.quarantine import quarantine_key
from payload_operator.tasks.integrity.report import MAX_BAD, Tally, merge, outcome
from payload_operator.tasks.pool import BoundedPool
from payload_operator.tasks.refset import ReferenceSet

SHA = hashlib.sha256(b"payload").hexdigest()
SHA_KEY = f"ns/avro/{SHA[:2]}/{SHA}"


def spec_for(driver: str, block: dict[str, Any], prefix: str = "ns") -> Any:
    body = {
        "spec": {
            "server": {"url": "http://dw.invalid", "tokenSecretRef": {"name": "t"}, "namespaces": ["default"]},
            "driver": driver,
            driver: block,
            "prefix": prefix,
        }
    }
    return resource_from_body(body).spec


# --------------------------------------------------------------------------- judging and streaming


def test_a_size_claim_is_judged_before_the_hash_as_the_sdk_does() -> None:
    check = Check(SHA_KEY, SHA, sizes=(7,))
    assert judge(check, SHA, 7).problem is None
    assert judge(check, "0" * 64, 6).problem is Problem.SIZE
    assert judge(check, "0" * 64, 7).problem is Problem.HASH
    assert judge(Check(SHA_KEY, SHA), SHA, 123).problem is None  # a listed key claims no size


def test_two_references_claiming_different_sizes_make_the_object_a_size_mismatch() -> None:
    verdict = judge(Check(SHA_KEY, SHA, sizes=(7, 8)), SHA, 7)
    assert (verdict.problem, verdict.expected_size) == (Problem.SIZE, 8)


@given(st.binary(min_size=1, max_size=5000), st.integers(min_value=0), st.integers(min_value=1, max_value=7))
def test_streaming_in_any_chunk_size_finds_any_flipped_bit(data: bytes, where: int, chunk_exp: int) -> None:
    sha = hashlib.sha256(data).hexdigest()
    damaged = bytearray(data)
    damaged[where % len(data)] ^= 0x80

    class Memory:
        def __init__(self, content: bytes) -> None:
            self.content = content

        def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
            for start in range(0, len(self.content), chunk_size):
                yield self.content[start : start + chunk_size]

    chunk = 4**chunk_exp
    intact = verify(Memory(data), Check("k", sha, (len(data),)), chunk)  # type: ignore[arg-type]
    broken = verify(Memory(bytes(damaged)), Check("k", sha, (len(data),)), chunk)  # type: ignore[arg-type]
    assert (intact.problem, intact.bytes_read) == (None, len(data))
    assert (broken.problem, broken.actual_sha256) == (Problem.HASH, hashlib.sha256(damaged).hexdigest())


def test_missing_and_unreadable_objects_are_verdicts_not_errors(tmp_path: Path) -> None:
    assert verify(LocalStore(str(tmp_path)), Check(SHA_KEY, SHA)).problem is Problem.MISSING

    class Refusing:
        def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
            raise StorageAccessDenied("S3 read failed: AccessDenied (HTTP 403)")

    verdict = verify(Refusing(), Check(SHA_KEY, SHA))  # type: ignore[arg-type]
    assert (verdict.problem, verdict.detail) == (Problem.UNREADABLE, "StorageAccessDenied")


# --------------------------------------------------------------------------- references to keys


@pytest.mark.parametrize(
    ("driver", "block", "uri"),
    [
        ("s3", {"bucket": "pay"}, f"s3://pay/{SHA_KEY}"),
        ("gcs", {"bucket": "pay"}, f"gs://pay/{SHA_KEY}"),
        ("gcs", {"bucket": "pay"}, f"gcs://pay/{SHA_KEY}"),
        ("azure", {"container": "pay", "accountUrl": "https://a.blob.core.windows.net"}, f"azure-blob://pay/{SHA_KEY}"),
        ("azure", {"container": "pay", "accountUrl": "https://a.blob.core.windows.net"}, f"azure://pay/{SHA_KEY}"),
        ("local", {"path": "/data/pay"}, f"file:///data/pay/{SHA_KEY}"),
    ],
)
def test_gen_a_uris_of_the_sdk_and_the_server_resolve_to_the_same_key(
    driver: str, block: dict[str, Any], uri: str
) -> None:
    assert object_key(Reference(SHA, 7, "avro", uri=uri), spec_for(driver, block)) == SHA_KEY


@pytest.mark.parametrize(
    "uri",
    [
        f"s3://other/{SHA_KEY}",
        f"gs://pay/{SHA_KEY}",
        f"s3://pay/elsewhere/avro/{SHA[:2]}/{SHA}",
        f"s3://pay/ns/avro/{SHA[:2]}/../{SHA[:2]}/{SHA}",
        f"s3://pay/ns/avro/00/{SHA}",
        f"s3://pay/ns/avro/{SHA[:2]}/{'0' * 64}",
    ],
)
def test_gen_a_uris_outside_the_storage_or_not_naming_the_sha256_are_refused(uri: str) -> None:
    with pytest.raises(ReferenceOutsideStorage):
        object_key(Reference(SHA, 7, "avro", uri=uri), spec_for("s3", {"bucket": "pay"}))


def test_gen_b_references_derive_the_key_from_prefix_codec_and_sha256() -> None:
    spec = spec_for("s3", {"bucket": "pay"}, prefix="a/b")
    assert object_key(Reference(SHA, 7, "avro", reference_id="ep_x"), spec) == f"a/b/avro/{SHA[:2]}/{SHA}"
    with pytest.raises(ReferenceOutsideStorage):
        object_key(Reference(SHA, 7, "../x", reference_id="ep_x"), spec)


@given(st.integers(min_value=1, max_value=16))
def test_shards_list_every_key_directory_exactly_once(count: int) -> None:
    listed = [p for index in range(count) for p in listing_prefixes("ns", index, count)]
    expected = ["ns/avro/"] if count == 1 else [f"ns/avro/{d:02x}/" for d in range(256)]
    assert sorted(listed) == expected


def test_quarantine_keeps_the_layout_under_the_root() -> None:
    assert quarantine_key("ns", SHA_KEY) == f"ns/quarantine/avro/{SHA[:2]}/{SHA}"
    assert quarantine_key("", f"avro/{SHA[:2]}/{SHA}") == f"quarantine/avro/{SHA[:2]}/{SHA}"


# --------------------------------------------------------------------------- counting and merging


def corrupt(key: str) -> Any:
    return judge(Check(key, SHA, (1,)), "0" * 64, 2)


def test_the_bad_sample_is_bounded_distinct_and_ordered_by_severity_then_key() -> None:
    tally = Tally()
    for n in range(50):
        tally.record(corrupt(f"k{n:02d}"))
        tally.invalid("s3://other/x", "bucket 'other' is not the configured one")
    tally.record(judge(Check("zz", SHA), SHA, 0))  # intact: counted, not sampled
    result = tally.result()
    assert [entry.key for entry in result.bad] == [f"k{n:02d}" for n in range(MAX_BAD)]
    assert (result.corrupt, result.corrupt_size, result.invalid_references, result.ok) == (50, 50, 50, 1)


def test_merge_adds_counts_keeps_the_slowest_duration_and_reselects_bad_keys() -> None:
    shards = []
    for index in range(2):
        tally = Tally()
        tally.record(corrupt(f"shard{index}"))
        tally.notes.append("same note")
        shards.append(tally.result(durationSeconds=1.0 + index, walk={"pages": 4, "failedPages": 0}))
    merged = merge(shards)
    assert (merged.checked, merged.corrupt, merged.duration_seconds, merged.shards) == (2, 2, 2.0, 2)
    assert [entry.key for entry in merged.bad] == ["shard0", "shard1"]
    assert (merged.walk, merged.notes) == (WalkCounts(pages=4), ["same note"])


def test_outcome_fails_on_damage_and_is_partial_when_something_could_not_be_verified() -> None:
    base = Tally().result()

    def judged(**counts: Any) -> tuple[RunOutcome, str]:
        return outcome(base.model_copy(update=counts))

    assert judged(checked=3, ok=3, bytes=9) == (RunOutcome.SUCCEEDED, "3 objects checked (9 bytes), all ok")
    assert judged(checked=3, missing=1)[0] is RunOutcome.FAILED
    assert judged(checked=3, unreadable=1) == (
        RunOutcome.PARTIALLY_FAILED,
        "3 objects checked (0 bytes), 0 ok; 1 unreadable",
    )
    assert judged(walk=WalkCounts(failed_pages=2))[0] is RunOutcome.PARTIALLY_FAILED


# --------------------------------------------------------------------------- reference set


def test_the_reference_set_keeps_one_check_per_key_with_every_claimed_size() -> None:
    references = ReferenceSet()
    try:
        for _ in range(3):
            references.add(SHA_KEY, 7)
        references.add(SHA_KEY, 8)
        references.add("ns/json/00/" + "0" * 64, 1)
        assert len(references) == 2
        assert references.directories() == ["ns/avro/" + SHA[:2], "ns/json/00"]
        assert references.in_directory("ns/avro/" + SHA[:2]) == {SHA_KEY: Check(SHA_KEY, SHA, (7, 8))}
    finally:
        references.close()


def test_the_reference_set_spills_to_disk_instead_of_growing_in_memory() -> None:
    psutil = pytest.importorskip("psutil")
    references = ReferenceSet()
    try:
        before = psutil.Process().memory_info().rss
        for n in range(200_000):
            sha = hashlib.sha256(n.to_bytes(4, "big")).hexdigest()
            references.add(f"ns/avro/{sha[:2]}/{sha}", n)
        grown = psutil.Process().memory_info().rss - before
        assert len(references) == 200_000
        assert grown < 40 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB for 200k references"
    finally:
        references.close()


# --------------------------------------------------------------------------- bounded pool


async def test_the_pool_reads_at_most_workers_at_once_and_queues_at_most_as_many_more() -> None:
    release = threading.Event()
    lock = threading.Lock()
    running = {"now": 0, "max": 0}
    done: list[int] = []
    submitted: list[int] = []

    def work(item: int) -> int:
        with lock:
            running["now"] += 1
            running["max"] = max(running["max"], running["now"])
        release.wait(timeout=30)
        with lock:
            running["now"] -= 1
        return item

    async with BoundedPool(work, done.append, workers=2) as pool:

        async def produce() -> None:
            for item in range(10):
                await pool.submit(item)
                submitted.append(item)

        producer = asyncio.create_task(produce())
        await async_wait_for(lambda: len(submitted) == 4 and running["now"] == 2, timeout=60)
        assert not producer.done()  # the fifth submit waits for a free slot
        release.set()
        await producer
    assert sorted(done) == list(range(10))
    assert running["max"] == 2


async def test_a_failing_item_fails_the_pool_after_the_running_ones_finish() -> None:
    def work(item: int) -> int:
        if item == 3:
            raise RuntimeError("boom")
        return item

    done: list[int] = []

    async def run_all() -> None:
        async with BoundedPool(work, done.append, workers=2) as pool:
            for item in range(100):
                await pool.submit(item)

    with pytest.raises(RuntimeError, match="boom"):
        await run_all()
    assert 3 not in done
    assert len(done) < 100
