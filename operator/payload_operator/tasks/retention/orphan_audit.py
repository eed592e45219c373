"""The orphan audit: mark every object the histories reference, sweep the shard's listing, maybe delete.

Mark walks every listed namespace's histories over raw HTTP and keeps the referenced keys of this
shard on disk. Sweep lists `<root>/avro/` (this shard's directories) page by page and classifies each
object as referenced, young (inside the grace period) or a candidate. Memory stays flat however many
objects there are: references and candidates live in temporary SQLite files, listings stream.

Nothing is called an orphan unless references are observable: the server's discovery advertises a
reference schema and the walk found references wherever it saw offloaded payloads (contract §12: an
inlining server shows none, and every live payload would look orphaned). Nothing is deleted unless
the mode is Delete, the server is Gen A (a Gen B server owns deletion, contract point 6), the walk
read every page and storage answered. Just before deleting, the histories are walked once more and
anything referenced since the mark is spared; each survivor is re-checked with `stat` against the
grace period, deleted in provider-sized batches, and logged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from payload_operator.adapters.history import WalkStats, object_key, walk
from payload_operator.adapters.server import ServerClient
from payload_operator.adapters.storage.base import ObjectStore, StorageError
from payload_operator.api.results import AuditStatus, OrphanAuditResult, WalkCounts
from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.api.status import ServerGeneration
from payload_operator.core.run_context import Shard
from payload_operator.planning import keys
from payload_operator.planning.objects import ObjectInfo
from payload_operator.planning.orphans import ObjectClass, SweepTally, plan, still_deletable
from payload_operator.tasks.discovery import Discovery
from payload_operator.tasks.refset import ReferenceSet, directory_of

log = logging.getLogger(__name__)

LIST_BATCH = 1000
SAMPLE = 10
Progress = Callable[[str], None]


@dataclass(frozen=True)
class AuditScope:
    """What one shard audits, and whether it may delete."""

    spec: ExternalPayloadStorageSpec
    shard: Shard
    min_age: timedelta
    delete: bool


class AuditStopped(Exception):
    """The audit cannot go on: skipped (unsafe to judge) or failed (something broke)."""

    def __init__(self, status: AuditStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class AuditTally:
    """What one shard's audit found and did."""

    references: int = 0
    invalid_references: int = 0
    walk: WalkStats = field(default_factory=WalkStats)
    sweep: SweepTally = field(default_factory=SweepTally)
    deleted: int = 0
    delete_failed: int = 0
    spared: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, phase: str, started: float) -> None:
        """Record how long a phase took (mark, sweep, delete)."""
        self.seconds[phase] = round(time.monotonic() - started, 3)

    def result(self, status: AuditStatus, reason: str, deletion: str) -> OrphanAuditResult:
        """The `orphans` section of the run result (counts, short samples); candidates only when ok."""
        counts, ok = self.sweep.counts, status is AuditStatus.OK
        return OrphanAuditResult(
            status=status,
            reason=reason,
            deletion=deletion,
            references=self.references,
            invalid_references=self.invalid_references,
            listed=self.sweep.listed,
            referenced=counts[ObjectClass.REFERENCED],
            young=counts[ObjectClass.YOUNG],
            foreign=counts[ObjectClass.FOREIGN],
            candidates=counts[ObjectClass.CANDIDATE] if ok else 0,
            candidate_bytes=self.sweep.candidate_bytes if ok else 0,
            deleted=self.deleted,
            delete_failed=self.delete_failed,
            spared=self.spared,
            sample=self.sweep.sample if ok else [],
            failures=self.failures[:SAMPLE],
            seconds=self.seconds,
            walk=WalkCounts(
                workflows=self.walk.workflows,
                runs=self.walk.runs,
                pages=self.walk.pages,
                failed_pages=len(self.walk.failed_pages),
                inline_over_threshold=self.walk.inline_over_threshold,
            ),
        )


class _DirectoryLookup:
    """Membership in a ReferenceSet, one key directory at a time (the order a listing arrives in)."""

    def __init__(self, references: ReferenceSet) -> None:
        self._references = references
        self._directory: str | None = None
        self._keys: Mapping[str, object] = {}

    def __contains__(self, key: object) -> bool:
        directory = directory_of(str(key))
        if directory != self._directory:
            self._directory, self._keys = directory, self._references.in_directory(directory)
        return key in self._keys


class OrphanAudit:
    """One shard's mark, sweep and (maybe) delete."""

    def __init__(
        self,
        client: ServerClient,
        store: ObjectStore,
        discoveries: Mapping[str, Discovery],
        scope: AuditScope,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.discoveries = discoveries
        self.scope = scope
        self.progress = progress or (lambda _text: None)
        self.tally = AuditTally()

    async def run(self) -> OrphanAuditResult:
        """Audit the shard; failures become the section's status and reason, never exceptions."""
        referenced = ReferenceSet()
        candidates = ReferenceSet()
        try:
            self._require_observable_discovery()
            started = time.monotonic()
            self.tally.references, self.tally.invalid_references = await self._mark(referenced, self.tally.walk)
            self.tally.timed("mark", started)
            self._require_complete_walk()
            started = time.monotonic()
            await self._sweep(referenced, candidates)
            self.tally.timed("sweep", started)
            started = time.monotonic()
            deletion = await self._maybe_delete(candidates)
            self.tally.timed("delete", started)
        except AuditStopped as stop:
            return self.tally.result(stop.status, stop.reason, "none")
        finally:
            referenced.close()
            candidates.close()
        return self.tally.result(AuditStatus.OK, deletion if deletion.startswith("refused") else "", deletion)

    def _require_observable_discovery(self) -> None:
        for namespace in self.scope.spec.server.namespaces:
            if not self.discoveries[namespace].advertises_references:
                raise AuditStopped(
                    AuditStatus.SKIPPED,
                    f"references not observable: namespace {namespace}: cluster-info advertises no payload"
                    " reference schema, so histories cannot be trusted to show every reference",
                )

    async def _mark(self, references: ReferenceSet, stats: WalkStats) -> tuple[int, int]:
        """Walk every namespace, keeping this shard's referenced keys; (references, invalid) of this shard.

        Stops the audit when a namespace shows offloaded payloads inline and no reference at all.
        """
        spec, shard = self.scope.spec, self.scope.shard
        found = invalid = 0
        for namespace in spec.server.namespaces:
            seen = WalkStats()
            async for reference in walk(self.client, namespace, seen, threshold_bytes=spec.threshold_bytes):
                if keys.shard_of(reference.sha256, shard.count) != shard.index:
                    continue
                try:
                    key = object_key(reference, spec)
                except keys.ReferenceOutsideStorage:
                    invalid += 1  # never read, never followed
                    continue
                found += 1
                references.add(key, reference.size_bytes)
                if found % 1000 == 0:
                    self.progress(f"marking: {namespace}, {seen.runs} runs, {found} references")
            if shard.index == 0:
                invalid += seen.invalid_references  # malformed ones carry no sha256 to shard by
            _accumulate(stats, seen)
            if not seen.references_observable():
                raise AuditStopped(
                    AuditStatus.SKIPPED,
                    f"references not observable: namespace {namespace} returns {seen.inline_over_threshold}"
                    " offloaded payload(s) inline and no reference, so live payloads would look orphaned",
                )
        return found, invalid

    def _require_complete_walk(self) -> None:
        failed = self.tally.walk.failed_pages
        if failed:
            raise AuditStopped(
                AuditStatus.SKIPPED, f"history walk incomplete: {len(failed)} page(s) failed, first: {failed[0]}"
            )

    async def _sweep(self, referenced: ReferenceSet, candidates: ReferenceSet) -> None:
        """Classify the shard's listing; candidates go to disk."""
        scope = self.scope
        lookup = _DirectoryLookup(referenced)
        try:
            await asyncio.to_thread(self.store.probe)
            for prefix in keys.listing_prefixes(scope.spec.key_prefix, scope.shard.index, scope.shard.count):
                async for batch in _batches(self.store, prefix):
                    now = datetime.now(UTC)
                    found = plan(
                        batch,
                        lookup,
                        prefix=scope.spec.key_prefix,
                        now=now,
                        min_age=scope.min_age,
                        tally=self.tally.sweep,
                    )
                    for info in found:
                        candidates.add(info.key, info.size)
                    self.progress(
                        f"sweeping: {self.tally.sweep.listed} objects listed,"
                        f" {self.tally.sweep.counts[ObjectClass.CANDIDATE]} candidates"
                    )
        except StorageError as exc:
            raise AuditStopped(AuditStatus.FAILED, f"storage did not answer ({exc.reason}): {exc}") from exc

    def _refusal(self) -> str:
        """Why deletion may not happen, or "" when it may."""
        if not self.scope.delete:
            return "not requested"
        gen_b = [ns for ns, found in self.discoveries.items() if found.generation is not ServerGeneration.A]
        if gen_b:
            return (
                f"refused: namespace {gen_b[0]} is served by a Gen B server, which owns payload deletion"
                " (it would answer external_payload_not_found for bytes removed behind its back)"
            )
        return ""

    async def _maybe_delete(self, candidates: ReferenceSet) -> str:
        """Delete the candidates when every gate allows it; returns what happened."""
        if not self.tally.sweep.counts[ObjectClass.CANDIDATE]:
            return "nothing to delete"
        refusal = self._refusal()
        if refusal:
            return refusal
        confirmed = ReferenceSet()
        try:
            confirm_stats = WalkStats()
            await self._mark(confirmed, confirm_stats)
            if confirm_stats.failed_pages:
                return f"refused: the confirming history walk failed: {confirm_stats.failed_pages[0]}"
            await self._delete(candidates, confirmed)
        finally:
            confirmed.close()
        return "done" if not self.tally.delete_failed else "partial"

    async def _delete(self, candidates: ReferenceSet, confirmed: ReferenceSet) -> None:
        """Delete candidates not referenced since the mark and still past the grace period, batch by batch."""
        for directory in candidates.directories():
            protected = confirmed.in_directory(directory)
            listed = list(candidates.in_directory(directory))
            keys_left = [key for key in listed if key not in protected]
            self.tally.spared += len(listed) - len(keys_left)
            size = max(1, self.store.delete_batch_size)
            for start in range(0, len(keys_left), size):
                try:
                    await asyncio.to_thread(self._delete_batch, keys_left[start : start + size])
                except StorageError as exc:
                    self.tally.failures.append(f"delete stopped ({exc.reason}): {exc}")
                    self.tally.delete_failed += len(keys_left) - start
                    return
                self.progress(f"deleting: {self.tally.deleted} deleted")

    def _delete_batch(self, batch: Sequence[str]) -> None:
        """Re-check each key's age on a fresh stat, delete the rest in one provider call, log each deletion."""
        now = datetime.now(UTC)
        doomed = [key for key in batch if still_deletable(self.store.stat(key), now=now, min_age=self.scope.min_age)]
        self.tally.spared += len(batch) - len(doomed)
        if not doomed:
            return
        outcome = self.store.delete_batch(doomed)
        for key in outcome.deleted:
            log.info("deleted orphan payload object %s", key)
        for key, reason in outcome.errors.items():
            log.warning("could not delete orphan payload object %s: %s", key, reason)
            if len(self.tally.failures) < SAMPLE:
                self.tally.failures.append(f"{key}: {reason}")
        self.tally.deleted += len(outcome.deleted)
        self.tally.delete_failed += len(outcome.errors)


async def _batches(store: ObjectStore, prefix: str) -> AsyncIterator[list[ObjectInfo]]:
    """The listing in page-sized batches, each fetched on a worker thread."""
    iterator: Iterator[ObjectInfo] = iter(store.list(prefix))
    while batch := await asyncio.to_thread(lambda: list(itertools.islice(iterator, LIST_BATCH))):
        yield batch


def _accumulate(total: WalkStats, part: WalkStats) -> None:
    total.workflows += part.workflows
    total.runs += part.runs
    total.pages += part.pages
    total.references += part.references
    total.invalid_references += part.invalid_references
    total.inline_over_threshold += part.inline_over_threshold
    total.failed_pages.extend(part.failed_pages)
