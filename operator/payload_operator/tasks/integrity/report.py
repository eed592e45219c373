"""Counting an integrity run and turning the counts into a result, a merged result and an outcome.

Pure: no I/O, no clock. The result (api/results.py `IntegrityResult`) is what lands in
`status.integrity.lastResult`, the CLI's JSON report and the ConfigMap a Job hands back, so it is
bounded: counts plus the first few bad keys, chosen by severity then key so the same damage always
shows the same sample. The running counts are keyed by the result's camelCase names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from payload_operator.api.results import BadEntry, IntegrityResult, RunOutcome, WalkCounts
from payload_operator.api.spec import IntegrityMode
from payload_operator.tasks.integrity.hashing import Problem, Verdict

MAX_BAD = 10

COUNTS = (
    "references",
    "checked",
    "ok",
    "missing",
    "corrupt",
    "corruptSize",
    "corruptHash",
    "unreadable",
    "invalidReferences",
    "malformedKeys",
    "quarantined",
    "quarantineFailed",
    "bytes",
)
_RANK = {problem.value: rank for rank, problem in enumerate(Problem)}
_FIELD_OF = {info.alias or name: name for name, info in IntegrityResult.model_fields.items()}
"""The result field each camelCase count name fills."""


def _order(entry: BadEntry) -> tuple[int, str]:
    return _RANK.get(entry.problem, len(_RANK)), entry.key


def _keep_first(entries: Sequence[BadEntry]) -> list[BadEntry]:
    """The first MAX_BAD distinct (problem, key) entries (a bad reference may appear many times)."""
    distinct = {(e.problem, e.key): e for e in sorted(entries, key=_order, reverse=True)}
    return sorted(distinct.values(), key=_order)[:MAX_BAD]


@dataclass
class Tally:
    """Running counts of one shard; `bad` is trimmed to the first MAX_BAD whenever it doubles."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    bad: list[BadEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def record(self, verdict: Verdict) -> None:
        """Count one verified object."""
        self.counts["checked"] += 1
        self.counts["bytes"] += verdict.bytes_read
        problem = verdict.problem
        if problem is None:
            self.counts["ok"] += 1
            return
        entry = BadEntry(key=verdict.check.key, problem=problem.value, detail=verdict.detail or "")
        if problem not in (Problem.SIZE, Problem.HASH):
            self.counts[problem.value] += 1
        else:
            self.counts["corrupt"] += 1
            self.counts["corruptSize" if problem is Problem.SIZE else "corruptHash"] += 1
            entry = entry.model_copy(
                update={
                    "expected_sha256": verdict.check.sha256,
                    "actual_sha256": verdict.actual_sha256,
                    "expected_size": verdict.expected_size,
                    "actual_size": verdict.bytes_read,
                }
            )
        self._sample(entry)

    def invalid(self, where: str, reason: str) -> None:
        """A reference that is never read: malformed, or pointing outside the configured storage."""
        self.counts["invalidReferences"] += 1
        self._sample(BadEntry(key=where, problem=Problem.INVALID.value, detail=reason))

    def malformed(self, key: str) -> None:
        """A key under avro/ that is not a payload key."""
        self.counts["malformedKeys"] += 1
        self._sample(BadEntry(key=key, problem=Problem.MALFORMED.value))

    def _sample(self, entry: BadEntry) -> None:
        self.bad.append(entry)
        if len(self.bad) > 2 * MAX_BAD:
            self.bad = _keep_first(self.bad)

    def result(self, **extra: Any) -> IntegrityResult:
        """The shard's result; `extra` are the other result fields by camelCase name (mode, walk, ...)."""
        fields = {**extra, **self.counts, "bad": _keep_first(self.bad), "notes": self.notes}
        return IntegrityResult.model_validate(fields)


def merge(results: Sequence[IntegrityResult]) -> IntegrityResult:
    """Counts add up; duration is the slowest shard's; the walk is the same for every shard, so its
    largest counts are kept; bad keys are re-chosen from all shards."""
    if not results:
        return Tally().result()
    first = results[0]
    walks = [r.walk for r in results if r.walk is not None]
    holds = [r.store_holds_objects for r in results if r.store_holds_objects is not None]
    update: dict[str, Any] = {_FIELD_OF[key]: sum(getattr(r, _FIELD_OF[key]) for r in results) for key in COUNTS}
    return first.model_copy(
        update=update
        | {
            "shards": len(results),
            "duration_seconds": max(r.duration_seconds for r in results),
            "references_observable": all(r.references_observable for r in results),
            "store_holds_objects": any(holds) if holds else None,
            "walk": WalkCounts(**{k: max(getattr(w, k) for w in walks) for k in WalkCounts.model_fields})
            if walks
            else None,
            "bad": _keep_first([entry for r in results for entry in r.bad]),
            "notes": list(dict.fromkeys(note for r in results for note in r.notes)),
        }
    )


def outcome(result: IntegrityResult) -> tuple[RunOutcome, str]:
    """Failed when anything is missing or corrupt; PartiallyFailed when something could not be verified
    (references not observable, nothing checked beside stored objects, unreadable objects, references
    outside the storage, an incomplete history walk); else Succeeded.
    The message leads with the counts, then what could not be verified, then the notes."""
    r = result
    head = f"{r.checked} objects checked ({r.bytes} bytes)"
    failed_pages = r.walk.failed_pages if r.walk is not None else 0
    unobservable = not r.references_observable and r.mode is not IntegrityMode.INVENTORY
    gaps = [
        text
        for count, text in (
            (unobservable, "referenced objects not verified: references are not observable on this server"),
            (not r.checked and r.store_holds_objects, "nothing checked while the store holds payload objects"),
            (r.unreadable, f"{r.unreadable} unreadable"),
            (r.invalid_references, f"{r.invalid_references} invalid references"),
            (failed_pages, f"history walk incomplete ({failed_pages} pages failed)"),
        )
        if count
    ]
    extras = [f"{r.malformed_keys} malformed keys"] if r.malformed_keys else []
    if r.missing or r.corrupt:
        corrupt = f"{r.corrupt} corrupt ({r.corrupt_size} size, {r.corrupt_hash} hash)"
        status, head = RunOutcome.FAILED, f"{r.missing} missing, {corrupt} of {head}"
    elif gaps:
        status, head = RunOutcome.PARTIALLY_FAILED, f"{head}, {r.ok} ok"
    else:
        status, head = RunOutcome.SUCCEEDED, f"{head}, all ok"
    return status, "; ".join([head, *gaps, *extras, *r.notes])
