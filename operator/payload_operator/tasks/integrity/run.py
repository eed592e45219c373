"""The integrity run: prove payload objects hold exactly the bytes their keys and references promise.

Referenced mode checks every object the server's histories point to (size and sha256); Inventory mode
checks every object listed under <root>/avro/ against the sha256 its key names, with no server at all;
Both does one pass that reads each object once, with the references' sizes where there are any. A
server that advertises no reference schema, or inlines offloaded payloads, shows no references
(contract §12): the result then says `referencesObservable: false` and is never a success, Both still
checks the listing, and Referenced checks nothing it was not asked to. Nothing is ever deleted; corrupt
objects may be copied aside (`onCorrupt: Quarantine`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from payload_operator.adapters.server import ServerClient
from payload_operator.adapters.storage.base import ObjectStore, StorageError
from payload_operator.adapters.storage.factory import open_store
from payload_operator.api.results import IntegrityResult, RunOutcome
from payload_operator.api.spec import IntegrityMode, IntegritySpec, OnCorrupt
from payload_operator.api.status import IntegrityStatus
from payload_operator.core.run_context import RunContext, Shard
from payload_operator.planning import keys
from payload_operator.planning.objects import ObjectInfo
from payload_operator.tasks.discovery import discover
from payload_operator.tasks.integrity import report as integrity_report
from payload_operator.tasks.integrity.hashing import Check, Problem, Verdict, read_workers, verify
from payload_operator.tasks.integrity.quarantine import quarantine
from payload_operator.tasks.integrity.report import Tally
from payload_operator.tasks.integrity.sources import collect_references, walk_summary
from payload_operator.tasks.pool import BoundedPool
from payload_operator.tasks.refset import ReferenceSet, directory_of

FIRST_LIST_BATCH = 100  # small, so the first reads start as soon as a first (small) page is in
LIST_BATCH = 1000
BATCH_BYTES = 4 << 20
"""A pool task takes queued checks until their sizes add up to this (four 1 MiB reads)."""
BATCH_OBJECTS = 32
GUESSED_BYTES = 256 << 10
"""The size counted for an object neither the listing nor a reference sized."""

Progress = Callable[[str], None]


class MissingServerToken(ValueError):
    """Referenced mode reads the server's histories and needs its token."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A verdict plus whether quarantine copied the object (None: not attempted)."""

    verdict: Verdict
    quarantined: bool | None = None


class IntegrityRun:
    """The `integrity` run kind; `mode` and `on_corrupt` override the spec (CLI flags); `progress`
    receives one-line progress notes (the CLI shows them on a terminal)."""

    name = "integrity"
    result_model = IntegrityResult
    status_model = IntegrityStatus

    def __init__(
        self,
        *,
        mode: IntegrityMode | None = None,
        on_corrupt: OnCorrupt | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.mode = mode
        self.on_corrupt = on_corrupt
        self.progress = progress

    async def execute(self, context: RunContext) -> IntegrityResult:
        """Verify one shard; the result carries counts, the first few bad keys and notes."""
        spec = context.resource.spec
        settings = spec.integrity or IntegritySpec()
        mode = self.mode or settings.mode
        started = time.monotonic()
        tally = Tally()
        extra: dict[str, Any] = {
            "mode": mode.value,
            "sampleRatio": settings.sample_ratio,
            "referencesObservable": True,
        }
        references: ReferenceSet | None = None
        store = await asyncio.to_thread(
            open_store, spec, context.storage_credentials, max_connections=settings.concurrency
        )
        try:
            await asyncio.to_thread(store.probe)  # a wrong bucket or credentials fail the run, not each read
            if mode is not IntegrityMode.INVENTORY:
                references = await self._references(context, settings, tally, extra)
                if references is None and mode is IntegrityMode.BOTH:
                    mode = IntegrityMode.INVENTORY  # the half that needs no references still runs
            claims = _Claims(references)
            checker = _Checker(store, spec.key_prefix, self.on_corrupt or settings.on_corrupt, tally, self.progress)
            workers = read_workers(store, settings.concurrency)
            async with BoundedPool(checker.work, checker.record, workers=workers) as pool:
                batches = _Batches(pool)
                if mode is not IntegrityMode.REFERENCED:
                    await _list(
                        store,
                        claims,
                        batches,
                        tally,
                        prefix=spec.key_prefix,
                        shard=context.shard,
                        sample_ratio=settings.sample_ratio,
                    )
                for check in claims.unlisted():
                    await batches.add(check)
                await batches.flush()
            if tally.counts["checked"] == 0:  # nothing verified: is that because there is nothing?
                extra["storeHoldsObjects"] = await asyncio.to_thread(_holds_payloads, store, spec.key_prefix)
        finally:
            await asyncio.to_thread(store.close)
            if references is not None:
                references.close()
        return tally.result(**extra, durationSeconds=round(time.monotonic() - started, 3))

    @staticmethod
    async def _references(
        context: RunContext, settings: IntegritySpec, tally: Tally, extra: dict[str, Any]
    ) -> ReferenceSet | None:
        """The shard's distinct references from the walk; None when the server makes them unobservable,
        by its cluster-info (no reference schema, as the orphan audit reads it) or by the walk."""
        spec = context.resource.spec
        if not context.server_token:
            raise MissingServerToken("reading the server's histories needs its token")
        async with ServerClient.for_server(
            spec.server, context.server_token, context.server_ca, peer_check=context.server_peer_check
        ) as client:
            discoveries, errors = await discover(client, spec.server.namespaces)
            silent = [ns for ns, found in discoveries.items() if not found.advertises_references]
            why = [f"{e}" for e in errors] + [
                f"namespace {ns}: cluster-info advertises no payload reference schema" for ns in silent
            ]
            if why:
                extra["referencesObservable"] = False
                tally.notes.append(f"references not observable: {why[0]}")
                return None
            references, stats = await collect_references(client, spec, context.shard, settings.sample_ratio, tally)
        extra["walk"] = walk_summary(stats, len(spec.server.namespaces))
        if stats.failed_pages:
            tally.notes.append(f"history walk: {len(stats.failed_pages)} failed; first: {stats.failed_pages[0]}")
        if stats.references_observable():
            return references
        references.close()
        extra["referencesObservable"] = False
        tally.notes.append(
            f"references not observable: the server returned {stats.inline_over_threshold} offloaded payload(s)"
            " inline and no reference"
        )
        return None

    def merge(self, shard_results: Sequence[IntegrityResult]) -> IntegrityResult:
        """Add up the shards (see `integrity_report.merge`)."""
        return integrity_report.merge(shard_results)

    def outcome(self, result: IntegrityResult) -> tuple[RunOutcome, str]:
        """Failed when anything is missing or corrupt (see `integrity_report.outcome`)."""
        return integrity_report.outcome(result)


class _Checker:
    """What each pool thread does with a check, and how the loop counts the outcome."""

    def __init__(
        self, store: ObjectStore, prefix: str, on_corrupt: OnCorrupt, tally: Tally, progress: Progress | None
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.quarantine = on_corrupt is OnCorrupt.QUARANTINE
        self.tally = tally
        self.progress = progress

    def work(self, batch: list[Check]) -> list[Outcome]:
        return [self._check(check) for check in batch]

    def _check(self, check: Check) -> Outcome:
        verdict = verify(self.store, check)
        if not self.quarantine or verdict.problem not in (Problem.SIZE, Problem.HASH):
            return Outcome(verdict)
        try:
            quarantine(self.store, self.prefix, verdict, datetime.now(UTC))
        except (FileNotFoundError, StorageError):  # gone or refused since the read: counted, not fatal
            return Outcome(verdict, quarantined=False)
        return Outcome(verdict, quarantined=True)

    def record(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.tally.record(outcome.verdict)
            if outcome.quarantined is not None:
                self.tally.counts["quarantined" if outcome.quarantined else "quarantineFailed"] += 1
        if self.progress is not None:
            counts = self.tally.counts
            bad = counts["missing"] + counts["corrupt"] + counts["unreadable"]
            self.progress(f"checked {counts['checked']}, {bad} bad, {counts['bytes'] / 2**20:.0f} MiB read")


class _Claims:
    """The sizes references claim, handed out directory by directory as a listing walks through them
    (listings come in key order, so each directory is entered once)."""

    def __init__(self, references: ReferenceSet | None) -> None:
        self._references = references
        self._directory: str | None = None
        self._open: dict[str, Check] = {}
        self._done: set[str] = set()

    def check(self, key: str, sha256: str) -> tuple[Check, list[Check]]:
        """The check of a listed key, plus the referenced keys of the previous directory it never showed."""
        unlisted: list[Check] = []
        directory = directory_of(key)
        if directory != self._directory:
            unlisted = self._close()
            self._directory = directory
            self._open = self._references.in_directory(directory) if self._references else {}
        return self._open.pop(key, None) or Check(key, sha256), unlisted

    def unlisted(self) -> Iterator[Check]:
        """Referenced keys no listing showed (all of them when nothing was listed): missing, or new."""
        yield from self._close()
        references = self._references
        if references is not None:
            for directory in references.directories():
                if directory not in self._done:
                    yield from references.in_directory(directory).values()

    def _close(self) -> list[Check]:
        if self._directory is not None:
            self._done.add(self._directory)
        rest, self._open = list(self._open.values()), {}
        return rest


class _Batches:
    """Checks handed to the pool a few at a time: small objects share one task, a large one goes alone.

    Why: each pool task costs 40-55 µs of CPU under the GIL (a future, a callback, a thread wake-up;
    measured with no-op work, 20,000 tasks), which the hashing threads need between chunks: for 20,000
    local objects that is about 1 s beside some 4 s of sha256 on 2 cores. In-flight memory stays flat:
    at most 2 * workers batches of at most BATCH_OBJECTS checks each, each object still read a chunk
    at a time.
    """

    def __init__(self, pool: BoundedPool[list[Check], list[Outcome]]) -> None:
        self._pool = pool
        self._checks: list[Check] = []
        self._bytes = 0

    async def add(self, check: Check, size: int | None = None) -> None:
        """Queue `check` (of `size` bytes if the listing said so, else its claims' or a guess)."""
        self._checks.append(check)
        self._bytes += size if size is not None else max(check.sizes, default=GUESSED_BYTES)
        if self._bytes >= BATCH_BYTES or len(self._checks) >= BATCH_OBJECTS:
            await self.flush()

    async def flush(self) -> None:
        """Submit what is queued."""
        if self._checks:
            batch, self._checks, self._bytes = self._checks, [], 0
            await self._pool.submit(batch)


async def _list(
    store: ObjectStore,
    claims: _Claims,
    batches: _Batches,
    tally: Tally,
    *,
    prefix: str,
    shard: Shard,
    sample_ratio: float,
) -> None:
    """Check every sampled payload key of the shard's listing; report keys that are not payload keys."""
    for listing_prefix in keys.listing_prefixes(prefix, shard.index, shard.count):
        async for info in _listed(store, listing_prefix):
            sha256 = keys.sha256_of_key(prefix, info.key)
            if sha256 is None:
                tally.malformed(info.key)
            elif keys.in_sample(sha256, sample_ratio):
                check, unlisted = claims.check(info.key, sha256)
                for previous in unlisted:
                    await batches.add(previous)
                await batches.add(check, info.size)


def _holds_payloads(store: ObjectStore, prefix: str) -> bool:
    """Whether anything lies under <root>/avro/ (one listing entry is enough)."""
    return next(iter(store.list(keys.payload_prefix(prefix))), None) is not None


async def _listed(store: ObjectStore, prefix: str) -> AsyncIterator[ObjectInfo]:
    """The listing, fetched in page-sized batches on a worker thread one batch ahead of the checks, so
    the reads never stall at a page boundary waiting for the next listing call."""
    iterator: Iterator[ObjectInfo] = iter(store.list(prefix))

    def next_batch(size: int) -> list[ObjectInfo]:
        return list(itertools.islice(iterator, size))

    ahead = asyncio.ensure_future(asyncio.to_thread(next_batch, FIRST_LIST_BATCH))
    try:
        while batch := await ahead:
            ahead = asyncio.ensure_future(asyncio.to_thread(next_batch, LIST_BATCH))
            for info in batch:
                yield info
    finally:
        ahead.cancel()  # a consumer that stops early (a failed run) leaves no batch behind
