"""A retention run's result across shards, its outcome and its one-line message. Pure.

Shard 0 drives the server's passes; every shard audits its own key directories. Merging adds the
audit counts up and keeps the most serious audit status, so one skipped or failed shard is never
hidden by the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from payload_operator.api.status import RunOutcome

SAMPLE = 10
_SEVERITY = {"failed": 3, "skipped": 2, "ok": 1, "disabled": 0}
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


def _orphans(sections: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    worst = max(sections, key=lambda s: _SEVERITY.get(str(s.get("status")), 3))
    merged: dict[str, Any] = dict(worst)
    for name in SUMMED:
        merged[name] = sum(int(s.get(name) or 0) for s in sections)
    merged["sample"] = sorted(key for s in sections for key in s.get("sample") or [])[:SAMPLE]
    merged["failures"] = [f for s in sections for f in s.get("failures") or []][:SAMPLE]
    phases = {phase for s in sections for phase in s.get("seconds") or {}}
    merged["seconds"] = {
        phase: max(float((s.get("seconds") or {}).get(phase, 0)) for s in sections) for phase in phases
    }
    refused = [str(s["deletion"]) for s in sections if str(s.get("deletion", "")).startswith("refused")]
    if refused:
        merged["deletion"] = refused[0]
    elif any(s.get("deletion") == "partial" for s in sections):
        merged["deletion"] = "partial"
    return merged


def merge(shard_results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One result from the shards' results."""
    passes = next(
        (r["server_passes"] for r in shard_results if r.get("server_passes", {}).get("status") != "other_shard"),
        {"status": "other_shard"},
    )
    return {
        "shards": len(shard_results),
        "dry_run": any(r.get("dry_run") for r in shard_results),
        "server_passes": dict(passes),
        "orphans": _orphans([r.get("orphans") or {"status": "failed"} for r in shard_results]),
        "duration_seconds": max(float(r.get("duration_seconds") or 0) for r in shard_results),
    }


def _passes_summary(passes: Mapping[str, Any]) -> str:
    status = passes.get("status")
    if status == "disabled":
        return "server passes off"
    if status == "failed":
        return f"server passes failed: {(passes.get('errors') or ['no answer'])[0]}"
    if status == "dry_run":
        return f"server: {passes.get('expired_remaining', 0)} expired runs (dry run, nothing pruned)"
    text = (
        f"server pruned {passes.get('runs_pruned', 0)} runs ({passes.get('runs_skipped', 0)} skipped,"
        f" {passes.get('runs_failed', 0)} failed) and deleted {passes.get('payloads_deleted', 0)} payloads"
    )
    if passes.get("cleanup_passes"):
        text += f", cleanup deleted {passes.get('cleanup_objects_deleted', 0)} uploads"
    return text


def _orphans_summary(orphans: Mapping[str, Any]) -> str:
    status = orphans.get("status")
    if status == "disabled":
        return "orphan audit off"
    if status != "ok":
        return f"orphan audit {status}: {orphans.get('reason', '')}"
    return (
        f"orphans: {orphans.get('candidates', 0)} candidates ({orphans.get('candidate_bytes', 0)} bytes),"
        f" {orphans.get('deleted', 0)} deleted"
    )


def problems(result: Mapping[str, Any]) -> list[str]:
    """What needs a user's attention, worst first (empty for a clean run)."""
    passes, orphans = result.get("server_passes") or {}, result.get("orphans") or {}
    found = [f"server passes: {e}" for e in passes.get("errors") or []]
    found += [f"server: {r}" for r in passes.get("reasons") or []]
    if passes.get("budget_exhausted"):
        found.append(f"server: pass budget spent in {', '.join(passes['budget_exhausted'])}; the next run goes on")
    if orphans.get("status") in ("failed", "skipped"):
        found.append(f"orphan audit {orphans['status']}: {orphans.get('reason', '')}")
    if str(orphans.get("deletion", "")).startswith("refused"):
        found.append(f"orphan deletion {orphans['deletion']}")
    found += [f"orphan deletion: {f}" for f in orphans.get("failures") or []]
    return found


def outcome(result: Mapping[str, Any]) -> tuple[str, str]:
    """Failed when nothing enabled worked, PartiallyFailed when anything needs attention, else Succeeded."""
    passes, orphans = result.get("server_passes") or {}, result.get("orphans") or {}
    message = f"{_passes_summary(passes)}; {_orphans_summary(orphans)}"
    enabled = [s for s in (passes.get("status"), orphans.get("status")) if s not in ("disabled", "other_shard")]
    if enabled and all(s == "failed" for s in enabled):
        return RunOutcome.FAILED.value, message
    found = problems(result)
    if found:
        # The orphan summary already says why an audit stopped; the first problem is added only when new.
        unsaid = [problem for problem in found if problem not in message]
        return RunOutcome.PARTIALLY_FAILED.value, "; ".join([message, *unsaid[:1]])
    return RunOutcome.SUCCEEDED.value, message
