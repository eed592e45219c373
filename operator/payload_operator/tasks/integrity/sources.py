"""Where an integrity run's checks come from: the references in the server's histories, and the listing.

Both are cut to one shard the same way (the sha256's key directory) and sampled the same way
(`in_sample`), so a referenced object and its listed key always land in the same shard and sample.
"""

from __future__ import annotations

from payload_operator.adapters.history import WalkStats, object_key, walk
from payload_operator.adapters.server import ServerClient
from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.core.run_context import Shard
from payload_operator.planning import keys
from payload_operator.tasks.integrity.report import Tally
from payload_operator.tasks.refset import ReferenceSet


async def collect_references(
    client: ServerClient,
    spec: ExternalPayloadStorageSpec,
    shard: Shard,
    sample_ratio: float,
    tally: Tally,
) -> tuple[ReferenceSet, WalkStats]:
    """Walk every namespace's histories; keep this shard's sampled references, distinct, on disk.

    References outside the storage are counted (and sampled) as invalid here, never read; references
    that fail schema validation carry no sha256 to shard by, so shard 0 alone counts them.
    """
    stats = WalkStats()
    references = ReferenceSet()
    try:
        for namespace in spec.server.namespaces:
            async for reference in walk(client, namespace, stats, threshold_bytes=spec.threshold_bytes):
                if keys.shard_of(reference.sha256, shard.count) != shard.index:
                    continue
                tally.counts["references"] += 1
                try:
                    key = object_key(reference, spec)
                except keys.ReferenceOutsideStorage as exc:
                    tally.invalid(reference.uri or reference.reference_id or reference.sha256, str(exc))
                    continue
                if keys.in_sample(reference.sha256, sample_ratio):
                    references.add(key, reference.size_bytes)
    except BaseException:
        references.close()
        raise
    if shard.index == 0:
        tally.counts["invalidReferences"] += stats.invalid_references
    return references, stats


def walk_summary(stats: WalkStats, namespaces: int) -> dict[str, int]:
    """The walk's counts for the result (failed page texts stay out: they are unbounded)."""
    return {
        "namespaces": namespaces,
        "workflows": stats.workflows,
        "runs": stats.runs,
        "pages": stats.pages,
        "failedPages": len(stats.failed_pages),
        "inlineOverThreshold": stats.inline_over_threshold,
    }
