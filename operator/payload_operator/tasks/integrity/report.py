"""Counting an integrity run and turning the counts into a result, a merged result and an outcome.

Pure: no I/O, no clock. The result is what lands in `status.integrity.lastResult`, the CLI's JSON
report and the ConfigMap a Job hands back, so it is bounded: counts plus the first few bad keys, chosen
by severity then key so the same damage always shows the same sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from payload_operator.tasks.integrity.hashing import Problem, Verdict

MAX_BAD = 10
SUCCEEDED = "Succeeded"
PARTIALLY_FAILED = "PartiallyFailed"
FAILED = "Failed"

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


def _order(entry: Mapping[str, Any]) -> tuple[int, str]:
    return _RANK.get(str(entry.get("problem")), len(_RANK)), str(entry.get("key"))


def _keep_first(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The first MAX_BAD distinct (problem, key) entries (a bad reference may appear many times)."""
    distinct = {(e.get("problem"), e.get("key")): dict(e) for e in sorted(entries, key=_order, reverse=True)}
    return sorted(distinct.values(), key=_order)[:MAX_BAD]


@dataclass
class Tally:
    """Running counts of one shard; `bad` is trimmed to the first MAX_BAD whenever it doubles."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    bad: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def record(self, verdict: Verdict) -> None:
        """Count one verified object."""
        self.counts["checked"] += 1
        self.counts["bytes"] += verdict.bytes_read
        problem = verdict.problem
        if problem is None:
            self.counts["ok"] += 1
            return
        entry: dict[str, Any] = {"key": verdict.check.key, "problem": problem.value}
        if problem not in (Problem.SIZE, Problem.HASH):
            self.counts[problem.value] += 1
        else:
            self.counts["corrupt"] += 1
            self.counts["corruptSize" if problem is Problem.SIZE else "corruptHash"] += 1
            entry |= {
                "expectedSha256": verdict.check.sha256,
                "actualSha256": verdict.actual_sha256,
                "expectedSize": verdict.expected_size,
                "actualSize": verdict.bytes_read,
            }
        if verdict.detail:
            entry["detail"] = verdict.detail
        self._sample(entry)

    def invalid(self, where: str, reason: str) -> None:
        """A reference that is never read: malformed, or pointing outside the configured storage."""
        self.counts["invalidReferences"] += 1
        self._sample({"key": where, "problem": Problem.INVALID.value, "detail": reason})

    def malformed(self, key: str) -> None:
        """A key under avro/ that is not a payload key."""
        self.counts["malformedKeys"] += 1
        self._sample({"key": key, "problem": Problem.MALFORMED.value})

    def _sample(self, entry: dict[str, Any]) -> None:
        self.bad.append(entry)
        if len(self.bad) > 2 * MAX_BAD:
            self.bad = _keep_first(self.bad)

    def result(self, **extra: Any) -> dict[str, Any]:
        """The JSON-able result of the shard."""
        return {**extra, **self.counts, "bad": _keep_first(self.bad), "notes": list(self.notes)}


def merge(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts add up; duration is the slowest shard's; the walk is the same for every shard, so its
    largest counts are kept; bad keys are re-chosen from all shards."""
    if not results:
        return Tally().result()
    merged: dict[str, Any] = {k: v for k, v in results[0].items() if k not in ("shard", "bad", "notes")}
    merged["shards"] = len(results)
    for key in COUNTS:
        merged[key] = sum(int(r.get(key, 0)) for r in results)
    merged["durationSeconds"] = max(float(r.get("durationSeconds", 0.0)) for r in results)
    merged["referencesObservable"] = all(r.get("referencesObservable", True) for r in results)
    if any("storeHoldsObjects" in r for r in results):
        merged["storeHoldsObjects"] = any(r.get("storeHoldsObjects") for r in results)
    walks = [r["walk"] for r in results if isinstance(r.get("walk"), Mapping)]
    if walks:
        merged["walk"] = {k: max(int(w.get(k, 0)) for w in walks) for k in walks[0]}
    merged["bad"] = _keep_first([entry for r in results for entry in r.get("bad", ())])
    merged["notes"] = list(dict.fromkeys(note for r in results for note in r.get("notes", ())))
    return merged


def outcome(result: Mapping[str, Any]) -> tuple[str, str]:
    """Failed when anything is missing or corrupt; PartiallyFailed when something could not be verified
    (references not observable, nothing checked beside stored objects, unreadable objects, references
    outside the storage, an incomplete history walk); else Succeeded.
    The message leads with the counts, then what could not be verified, then the notes."""

    def get(key: str) -> int:
        return int(result.get(key, 0))

    head = f"{get('checked')} objects checked ({get('bytes')} bytes)"
    failed_pages = int((result.get("walk") or {}).get("failedPages", 0))
    unobservable = result.get("referencesObservable") is False and result.get("mode") != "Inventory"
    gaps = [
        text
        for count, text in (
            (unobservable, "referenced objects not verified: references are not observable on this server"),
            (
                not get("checked") and result.get("storeHoldsObjects"),
                "nothing checked while the store holds payload objects",
            ),
            (get("unreadable"), f"{get('unreadable')} unreadable"),
            (get("invalidReferences"), f"{get('invalidReferences')} invalid references"),
            (failed_pages, f"history walk incomplete ({failed_pages} pages failed)"),
        )
        if count
    ]
    extras = [f"{get('malformedKeys')} malformed keys"] if get("malformedKeys") else []
    if get("missing") or get("corrupt"):
        corrupt = f"{get('corrupt')} corrupt ({get('corruptSize')} size, {get('corruptHash')} hash)"
        status, head = FAILED, f"{get('missing')} missing, {corrupt} of {head}"
    elif gaps:
        status, head = PARTIALLY_FAILED, f"{head}, {get('ok')} ok"
    else:
        status, head = SUCCEEDED, f"{head}, all ok"
    return status, "; ".join([head, *gaps, *extras, *result.get("notes", ())])
