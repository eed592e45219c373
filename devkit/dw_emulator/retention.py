"""History retention (``HistoryRetentionEnforcer``) including external payload deletion (§6.6, §7).

The captured Gen A profile deletes no payload at all (it keeps no reference). Otherwise Gen A
(``shared_delete_hazard`` on, the default for Gen A): every URI a pruned run references is
deleted through the namespace driver **without checking other owners** — the documented data-loss
hazard of old servers. Otherwise (Gen B, or the hazard switched off) an object is deleted only when
no other retained run references it and (Gen B) no other registry row owns it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .context import EmulatorContext
from .payloads import storage_uris
from .state import Run
from .storage import Driver

MAX_LIMIT = 100
# The per-table counts of a pruned run, as the captured server reports them.
DELETED_COUNTS = (
    "activity_attempts_deleted", "activity_executions_deleted", "child_calls_deleted", "commands_deleted",
    "failures_deleted", "history_events_deleted", "links_deleted", "memos_deleted", "messages_deleted",
    "run_deleted", "run_lineage_entries_deleted", "run_summary_deleted", "run_timer_entries_deleted",
    "run_waits_deleted", "search_attributes_deleted", "signals_deleted", "tasks_deleted", "timers_deleted",
    "timeline_entries_deleted", "updates_deleted",
)  # fmt: skip


def retention_policy(ctx: EmulatorContext, namespace: str) -> tuple[str, int | None, datetime | None]:
    ns = ctx.state.namespace(namespace)
    mode = ns.retention_mode if ns else "bounded"
    if mode == "forever":
        return mode, None, None
    days = ns.retention_days if ns else ctx.limits.default_retention_days
    return mode, days, ctx.state.now() - timedelta(days=days)


def expired_runs(ctx: EmulatorContext, namespace: str, limit: int) -> list[Run]:
    _, _, cutoff = retention_policy(ctx, namespace)
    if cutoff is None:
        return []
    with ctx.state.lock:
        runs = [
            run
            for wf in ctx.state.workflows_in(namespace)
            for run in wf.runs
            if run.is_terminal and run.closed_at is not None and not run.archived and run.closed_at < cutoff
        ]
    runs.sort(key=lambda r: r.closed_at or cutoff)
    return runs[: max(1, min(MAX_LIMIT, limit))]


def run_uris(ctx: EmulatorContext, run: Run) -> list[str]:
    """Every object URI a run owns: references in its history/envelopes plus ``owns``."""
    found = storage_uris([e.payload for e in run.events] + [run.input_envelope, run.output_envelope])
    for item in run.owns:
        if item.startswith("ep_"):
            row = ctx.state.registry.get(item)
            if row is not None:
                found.append(row.uri)
        else:
            found.append(item)
    return list(dict.fromkeys(found))


def _skipped(reason: str) -> dict[str, Any]:
    return {"pruned": False, "reason": reason}


def _delete_owned(ctx: EmulatorContext, run: Run, uris: list[str], driver: Driver) -> int:
    if not ctx.gen_b and ctx.shared_delete_hazard:
        for uri in uris:
            driver.delete(uri)
        return len(uris)
    referencing: dict[str, set[str]] = {}
    for other in ctx.state.all_runs():
        if other is not run:
            for uri in run_uris(ctx, other):
                referencing.setdefault(uri, set()).add(other.namespace)
    deleted = 0
    for uri in uris:
        own_row = ctx.state.registry_row_for(run.namespace, uri) if ctx.gen_b else None
        if uri in referencing:
            if own_row is not None and run.namespace not in referencing[uri]:
                ctx.state.registry.pop(own_row.id, None)
            continue
        other_rows = [r for r in ctx.state.registry_rows(uri=uri) if own_row is None or r.id != own_row.id]
        if ctx.gen_b and other_rows:
            if own_row is not None:
                ctx.state.registry.pop(own_row.id, None)
            continue
        driver.delete(uri)
        deleted += 1
        if own_row is not None:
            ctx.state.registry.pop(own_row.id, None)
    return deleted


def prune_run(ctx: EmulatorContext, namespace: str, run_id: str) -> dict[str, Any]:
    mode, _, _ = retention_policy(ctx, namespace)
    if mode == "forever":
        return _skipped("namespace_retention_forever")
    with ctx.state.lock:
        run = ctx.state.run(namespace, run_id)
        if run is None:
            return _skipped("run_not_found")
        if not run.is_terminal:
            return _skipped("run_not_terminal")
        if run.archived:
            return _skipped("run_archived")
        # The captured Gen A server keeps no reference (inputs are copied inline), so it deletes nothing.
        uris = [] if ctx.captured else run_uris(ctx, run)
        deleted = 0
        if uris:
            driver = ctx.resolution(namespace).driver
            if driver is None:
                return _skipped("external_payload_storage_driver_unavailable")
            deleted = _delete_owned(ctx, run, uris, driver)
        ctx.state.remove_run(run)
    events = len(run.events)
    counts = dict.fromkeys(DELETED_COUNTS, 0) | {
        "commands_deleted": 1,
        "history_events_deleted": events,
        "run_summary_deleted": 1,
        "tasks_deleted": 1,
        "timeline_entries_deleted": events,
    }
    return {
        "pruned": True,
        "history_events_deleted": events,
        "tasks_deleted": 1,
        "external_payloads_deleted": deleted,
        "deleted": counts,
    }


def run_pass(ctx: EmulatorContext, namespace: str, limit: int, run_ids: list[str]) -> dict[str, Any]:
    ids = run_ids or [r.run_id for r in expired_runs(ctx, namespace, limit)]
    results: list[dict[str, Any]] = []
    pruned = skipped = failed = 0
    for run_id in ids:
        try:
            outcome = prune_run(ctx, namespace, run_id)
        except Exception as exc:  # the real enforcer reports any exception message per run
            failed += 1
            results.append({"run_id": run_id, "outcome": "error", "reason": str(exc)})
            continue
        if outcome["pruned"]:
            pruned += 1
            results.append(
                {
                    "run_id": run_id,
                    "outcome": "pruned",
                    "history_events_deleted": outcome["history_events_deleted"],
                    "tasks_deleted": outcome["tasks_deleted"],
                    "external_payloads_deleted": outcome["external_payloads_deleted"],
                    "deleted": outcome["deleted"],
                }
            )
        else:
            skipped += 1
            results.append({"run_id": run_id, "outcome": "skipped", "reason": outcome["reason"]})
    return {"processed": len(ids), "pruned": pruned, "skipped": skipped, "failed": failed, "results": results}
