"""Drive the server's own retention (contract §6.6) and, on Gen B, its upload cleanup (§6.7).

The server is the deletion authority: the operator only asks it to work through its backlog, pass
after pass while it reports more expired runs, within a budget per namespace. A 207, a `skipped` or
an `error` outcome is a partial failure whose reasons are kept (a bounded sample); a pass that makes
no progress ends the loop, because what is left is blocked and asking again would not help.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from payload_operator.adapters.server import ServerClient, ServerError
from payload_operator.api.results import PassesStatus, ServerPassesResult
from payload_operator.api.status import ServerGeneration

MAX_PASSES = 50  # per namespace and run: 50 x 100 runs, then the next scheduled run continues
CLEANUP_LIMIT = 1000  # the server's maximum batch
SAMPLE = 10


# The result's counters, by name: the tally counts into them, so the names are written once (in api/results.py).
COUNTERS = frozenset(name for name, info in ServerPassesResult.model_fields.items() if info.annotation is int)


@dataclass
class PassTally:
    """What the passes of one run achieved, over every namespace."""

    counts: Counter[str] = field(default_factory=Counter)
    budget_exhausted: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def add(self, counter: str, amount: int = 1) -> None:
        """Add to one of the result's counters (a name it does not have is a bug, not a silent new key)."""
        if counter not in COUNTERS:
            raise KeyError(f"ServerPassesResult has no counter {counter!r}")
        self.counts[counter] += amount

    def reason(self, text: str) -> None:
        """Keep a skip or error reason, up to the sample size."""
        if len(self.reasons) < SAMPLE:
            self.reasons.append(text)

    def result(self, *, dry_run: bool) -> ServerPassesResult:
        """The `serverPasses` section of the run result."""
        if self.errors and not self.counts["passes"]:
            status = PassesStatus.FAILED
        elif self.errors or self.partial:
            status = PassesStatus.PARTIAL
        else:
            status = PassesStatus.OK
        return ServerPassesResult(
            status=PassesStatus.DRY_RUN if dry_run and not self.errors else status,
            **self.counts,
            budget_exhausted=self.budget_exhausted[:SAMPLE],
            errors=self.errors[:SAMPLE],
            reasons=self.reasons,
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _backlog(cleanup: Mapping[str, Any]) -> int:
    """Expired unclaimed uploads left: an int in pass reports, `{expired_unclaimed}` in status reports."""
    backlog = cleanup.get("backlog")
    return _int(backlog.get("expired_unclaimed")) if isinstance(backlog, dict) else _int(backlog)


def record_retention_pass(tally: PassTally, namespace: str, status: int, report: Mapping[str, Any]) -> int:
    """Count one retention pass; returns how many runs it pruned."""
    tally.add("passes")
    pruned = _int(report.get("pruned"))
    tally.add("runs_pruned", pruned)
    tally.add("runs_skipped", _int(report.get("skipped")))
    tally.add("runs_failed", _int(report.get("failed")))
    for item in report.get("results") or []:
        if not isinstance(item, dict):
            continue
        tally.add("payloads_deleted", _int(item.get("external_payloads_deleted")))
        if item.get("outcome") in ("skipped", "error"):
            tally.reason(f"{namespace}/{item.get('run_id')}: {item.get('outcome')}: {item.get('reason')}")
    if status == 207 or _int(report.get("failed")) or _int(report.get("skipped")):
        tally.partial.append(namespace)
    return pruned


def record_cleanup_pass(tally: PassTally, namespace: str, status: int, report: Mapping[str, Any]) -> tuple[int, int]:
    """Count one Gen B cleanup pass; returns how many uploads it processed and the backlog left."""
    raw = report.get("cleanup")
    cleanup: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    tally.add("cleanup_passes")
    tally.add("cleanup_references_deleted", _int(cleanup.get("deleted_references")))
    tally.add("cleanup_objects_deleted", _int(cleanup.get("deleted_backing_objects")))
    blocked = _int(cleanup.get("blocked"))
    tally.add("cleanup_blocked", blocked)
    if status == 207 or blocked:
        tally.partial.append(namespace)
        failures = _int(cleanup.get("storage_driver_failures"))
        tally.reason(f"{namespace}: cleanup blocked {blocked} upload(s), {failures} storage driver failure(s)")
    return _int(cleanup.get("processed")), _backlog(cleanup)


async def _retention(client: ServerClient, namespace: str, limit: int, tally: PassTally, dry_run: bool) -> None:
    remaining = _int((await client.retention_status(namespace)).get("expired_run_count"))
    passes = 0
    while remaining and not dry_run and passes < MAX_PASSES:
        status, report = await client.retention_pass(namespace, limit)
        passes += 1
        if not record_retention_pass(tally, namespace, status, report):
            break
        remaining = _int((await client.retention_status(namespace)).get("expired_run_count"))
    if remaining and passes >= MAX_PASSES:
        tally.budget_exhausted.append(namespace)
    tally.add("expired_remaining", remaining)


async def _cleanup(client: ServerClient, namespace: str, tally: PassTally, dry_run: bool) -> None:
    backlog = _backlog((await client.cleanup_status(namespace)).get("cleanup") or {})
    passes = 0
    while backlog and not dry_run and passes < MAX_PASSES:
        status, report = await client.cleanup_pass(namespace, CLEANUP_LIMIT)
        passes += 1
        processed, backlog = record_cleanup_pass(tally, namespace, status, report)
        if not processed:
            break
    if backlog and passes >= MAX_PASSES:
        tally.budget_exhausted.append(namespace)
    tally.add("cleanup_backlog", backlog)


async def drive(
    client: ServerClient,
    generations: Mapping[str, ServerGeneration],
    namespaces: Iterable[str],
    *,
    limit: int,
    dry_run: bool,
) -> ServerPassesResult:
    """Run retention (and Gen B cleanup) passes in every namespace; a dry run only reads the backlog."""
    tally = PassTally()
    for namespace in namespaces:
        try:
            await _retention(client, namespace, limit, tally, dry_run)
            if generations.get(namespace) is ServerGeneration.B:
                await _cleanup(client, namespace, tally, dry_run)
        except ServerError as exc:
            tally.errors.append(f"{namespace}: {exc}")
    return tally.result(dry_run=dry_run)
