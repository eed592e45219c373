"""Deleting any number of keys through a store's fixed-size provider batches.

Adapters refuse oversized batches rather than split them, so one `delete_batch` call is always one
provider request; chunking lives here once instead of in every adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from payload_operator.adapters.storage.base import BatchResult, ObjectStore


def check_batch(keys: Sequence[str], limit: int) -> None:
    """Refuse a batch the provider would reject (or silently truncate)."""
    if len(keys) > limit:
        raise ValueError(f"{len(keys)} keys in one delete batch; the provider takes at most {limit}")


def delete_all(store: ObjectStore, keys: Iterable[str]) -> Iterator[BatchResult]:
    """Delete `keys` batch by batch, yielding each batch's result as it completes.

    Lazy on purpose: nothing is deleted until the caller iterates, and no more than one batch of keys
    is held, so a sweep over millions of keys runs in flat memory.
    """
    remaining = iter(keys)
    while batch := list(islice(remaining, store.delete_batch_size)):
        yield store.delete_batch(batch)
