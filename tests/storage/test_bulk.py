"""delete_all: provider-sized batches, lazily, holding one batch of keys at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from payload_operator.adapters.storage.base import BatchResult
from payload_operator.adapters.storage.bulk import delete_all


class RecordingStore:
    """Only what delete_all touches: the batch size and delete_batch."""

    delete_batch_size = 4

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def delete_batch(self, keys: Sequence[str]) -> BatchResult:
        self.batches.append(list(keys))
        refused = {"k5": "AccessDenied"} if "k5" in keys else {}
        return BatchResult(deleted=[k for k in keys if k not in refused], errors=refused)


def counted_keys(n: int, drawn: list[str]) -> Iterator[str]:
    for i in range(n):
        drawn.append(f"k{i}")
        yield f"k{i}"


def test_batches_follow_the_store_size_and_carry_per_key_errors() -> None:
    store = RecordingStore()

    results = list(delete_all(store, counted_keys(10, [])))  # type: ignore[arg-type]

    assert [len(b) for b in store.batches] == [4, 4, 2]
    assert results[1].errors == {"k5": "AccessDenied"}
    assert sum(len(r.deleted) for r in results) == 9


def test_nothing_is_deleted_or_drawn_before_iteration_and_one_batch_at_a_time() -> None:
    store = RecordingStore()
    drawn: list[str] = []

    results = delete_all(store, counted_keys(10, drawn))  # type: ignore[arg-type]
    assert store.batches == []
    assert drawn == []

    next(results)
    assert store.batches == [["k0", "k1", "k2", "k3"]]
    assert len(drawn) == 4


def test_no_keys_no_calls() -> None:
    store = RecordingStore()

    assert list(delete_all(store, [])) == []  # type: ignore[arg-type]
    assert store.batches == []
