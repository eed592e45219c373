"""A retention run's result across shards, its outcome and its one-line message. Pure.

Shard 0 drives the server's passes and measures the usage outside the payload directory; every shard
audits its own key directories. Merging adds the audit counts and usage up and keeps the most serious
audit status, so one skipped or failed shard is never hidden by the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from payload_operator.api.results import (
    AuditStatus,
    OrphanAuditResult,
    PassesStatus,
    RetentionResult,
    RunOutcome,
    ServerPassesResult,
    WalkCounts,
    added,
)

SAMPLE = 10
_SEVERITY = {AuditStatus.FAILED: 3, AuditStatus.SKIPPED: 2, AuditStatus.OK: 1, AuditStatus.DISABLED: 0}
SUMMED = (
    "references",
    "invalid_references",
    "listed",
    "referenced",
    "young",
    "foreign",
    "candidates",
    "candidate_bytes",
    "deleted",
    "delete_failed",
    "spared",
)


def _orphans(sections: Sequence[OrphanAuditResult]) -> OrphanAuditResult:
    worst = max(sections, key=lambda section: _SEVERITY[section.status])
    update: dict[str, object] = {name: sum(getattr(s, name) for s in sections) for name in SUMMED}
    update["sample"] = sorted(key for s in sections for key in s.sample)[:SAMPLE]
    update["failures"] = [f for s in sections for f in s.failures][:SAMPLE]
    phases = {phase for s in sections for phase in s.seconds}
    update["seconds"] = {phase: max(s.seconds.get(phase, 0.0) for s in sections) for phase in phases}
    walks = [s.walk for s in sections]
    update["walk"] = WalkCounts(**{name: max(getattr(w, name) for w in walks) for name in WalkCounts.model_fields})
    refused = [s.deletion for s in sections if s.deletion.startswith("refused")]
    if refused:
        update["deletion"] = refused[0]
    elif any(s.deletion == "partial" for s in sections):
        update["deletion"] = "partial"
    return worst.model_copy(update=update)


def merge(shard_results: Sequence[RetentionResult]) -> RetentionResult:
    """One result from the shards' results."""
    passes = next(
        (
            r.server_passes
            for r in shard_results
            if r.server_passes is not None and r.server_passes.status is not PassesStatus.OTHER_SHARD
        ),
        ServerPassesResult(status=PassesStatus.OTHER_SHARD),
    )
    return RetentionResult(
        shards=len(shard_results),
        dry_run=any(r.dry_run for r in shard_results),
        server_passes=passes,
        orphans=_orphans([r.orphans or OrphanAuditResult(status=AuditStatus.FAILED) for r in shard_results]),
        usage=reduce(added, (r.usage for r in shard_results), None),
        duration_seconds=max(r.duration_seconds for r in shard_results),
    )


def _passes_summary(passes: ServerPassesResult) -> str:
    if passes.status is PassesStatus.DISABLED:
        return "server passes off"
    if passes.status is PassesStatus.FAILED:
        return f"server passes failed: {(passes.errors or ['no answer'])[0]}"
    if passes.status is PassesStatus.DRY_RUN:
        return f"server: {passes.expired_remaining} expired runs (dry run, nothing pruned)"
    text = (
        f"server pruned {passes.runs_pruned} runs ({passes.runs_skipped} skipped,"
        f" {passes.runs_failed} failed) and deleted {passes.payloads_deleted} payloads"
    )
    if passes.cleanup_passes:
        text += f", cleanup deleted {passes.cleanup_objects_deleted} uploads"
    return text


def _orphans_summary(orphans: OrphanAuditResult) -> str:
    if orphans.status is AuditStatus.DISABLED:
        return "orphan audit off"
    if orphans.status is not AuditStatus.OK:
        return f"orphan audit {orphans.status.value}: {orphans.reason}"
    return f"orphans: {orphans.candidates} candidates ({orphans.candidate_bytes} bytes), {orphans.deleted} deleted"


def _sections(result: RetentionResult) -> tuple[ServerPassesResult, OrphanAuditResult]:
    return result.server_passes or ServerPassesResult(), result.orphans or OrphanAuditResult()


def problems(result: RetentionResult) -> list[str]:
    """What needs a user's attention, worst first (empty for a clean run)."""
    passes, orphans = _sections(result)
    found = [f"server passes: {e}" for e in passes.errors]
    found += [f"server: {r}" for r in passes.reasons]
    if passes.budget_exhausted:
        found.append(f"server: pass budget spent in {', '.join(passes.budget_exhausted)}; the next run goes on")
    if orphans.status in (AuditStatus.FAILED, AuditStatus.SKIPPED):
        found.append(f"orphan audit {orphans.status.value}: {orphans.reason}")
    if orphans.deletion.startswith("refused"):
        found.append(f"orphan deletion {orphans.deletion}")
    found += [f"orphan deletion: {f}" for f in orphans.failures]
    return found


def outcome(result: RetentionResult) -> tuple[RunOutcome, str]:
    """Failed when nothing enabled worked, PartiallyFailed when anything needs attention, else Succeeded."""
    passes, orphans = _sections(result)
    message = f"{_passes_summary(passes)}; {_orphans_summary(orphans)}"
    broken: list[bool] = []  # per enabled half: did it fail?
    if passes.status not in (PassesStatus.DISABLED, PassesStatus.OTHER_SHARD):
        broken.append(passes.status is PassesStatus.FAILED)
    if orphans.status is not AuditStatus.DISABLED:
        broken.append(orphans.status is AuditStatus.FAILED)
    if broken and all(broken):
        return RunOutcome.FAILED, message
    found = problems(result)
    if found:
        # The orphan summary already says why an audit stopped; the first problem is added only when new.
        unsaid = [problem for problem in found if problem not in message]
        return RunOutcome.PARTIALLY_FAILED, "; ".join([message, *unsaid[:1]])
    return RunOutcome.SUCCEEDED, message
