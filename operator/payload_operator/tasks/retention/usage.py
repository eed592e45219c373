"""Storage usage: what the payload storage holds by class, for the retention run's result.

The `<root>/avro/` classes (referenced, young, candidate, foreign) come from the orphan audit's own
listing, so the biggest prefix is listed once. The temporary prefixes (`<root>/tmp/` and
spec.lifecycle.tmpPrefixes) and `<root>/quarantine/` are listed here, by shard 0 only (shards split the
payload directory, not these), keeping two counters per class: memory stays flat however many objects.
"""

from __future__ import annotations

import asyncio
import logging

from payload_operator.adapters.storage.base import ObjectStore, StorageError
from payload_operator.api.results import StorageUsage, UsageClass, UsageFigure
from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.planning import keys
from payload_operator.planning.orphans import ObjectClass, SweepTally

log = logging.getLogger(__name__)

DEFAULT_TMP_PREFIXES = ("tmp/",)
"""Where the server and SDK stage uploads (the Cirrus layout) when spec.lifecycle names no prefixes."""

_AUDITED = {
    ObjectClass.REFERENCED: UsageClass.REFERENCED,
    ObjectClass.YOUNG: UsageClass.YOUNG,
    ObjectClass.CANDIDATE: UsageClass.CANDIDATE,
    ObjectClass.FOREIGN: UsageClass.FOREIGN,
}


def audited(sweep: SweepTally) -> StorageUsage:
    """The payload directory's classes from a completed sweep (before any deletion)."""
    return StorageUsage.model_validate(
        {
            usage_class.value: UsageFigure(objects=sweep.counts[object_class], bytes=sweep.bytes[object_class])
            for object_class, usage_class in _AUDITED.items()
        }
    )


def outside_payloads(spec: ExternalPayloadStorageSpec) -> dict[UsageClass, tuple[str, ...]]:
    """The listing prefixes of the temporary and quarantined classes; nested prefixes are listed once."""
    root = keys.root(spec.key_prefix)
    named = spec.lifecycle.tmp_prefixes if spec.lifecycle is not None else DEFAULT_TMP_PREFIXES
    tmp = sorted({root + prefix for prefix in named})
    outermost = tuple(p for p in tmp if not any(p != other and p.startswith(other) for other in tmp))
    return {UsageClass.TEMPORARY: outermost, UsageClass.QUARANTINED: (root + keys.QUARANTINE_DIR,)}


def _count(store: ObjectStore, prefixes: tuple[str, ...]) -> UsageFigure:
    objects = size = 0
    for prefix in prefixes:
        for info in store.list(prefix):
            objects += 1
            size += info.size
    return UsageFigure(objects=objects, bytes=size)


async def measure_outside_payloads(store: ObjectStore, spec: ExternalPayloadStorageSpec) -> StorageUsage:
    """List the temporary prefixes and the quarantine; a class whose listing fails is left out (logged)."""
    figures: dict[str, UsageFigure] = {}
    for usage_class, prefixes in outside_payloads(spec).items():
        try:
            figures[usage_class.value] = await asyncio.to_thread(_count, store, prefixes)
        except StorageError as exc:
            log.warning("storage usage: listing %s (%s) failed: %s", usage_class.value, ", ".join(prefixes), exc)
    return StorageUsage.model_validate(figures)
