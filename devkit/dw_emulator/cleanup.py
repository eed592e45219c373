"""Gen B reclamation of expired unclaimed uploads (``RuntimeExternalPayloadCleanup``, §6.7)."""

from __future__ import annotations

from typing import Any

from .context import EmulatorContext
from .contract import CLEANUP_METRICS_SCHEMA
from .responses import iso_micros
from .state import CleanupStats, RegistryRow
from .storage import StorageError

DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000
_COUNTERS = (
    "processed",
    "deleted_references",
    "deleted_backing_objects",
    "shared_objects_preserved",
    "skipped",
    "blocked",
    "storage_driver_failures",
)


def _expired(ctx: EmulatorContext, namespace: str) -> list[RegistryRow]:
    now = ctx.state.now()
    rows = [
        row
        for row in ctx.state.registry_rows(namespace=namespace)
        if row.retained_at is None and row.expires_at is not None and row.expires_at <= now
    ]
    return sorted(rows, key=lambda r: (r.expires_at or now, r.id))


def _cleanup_one(ctx: EmulatorContext, row: RegistryRow) -> str:
    owners = ctx.state.registry_rows(uri=row.uri)
    if len(owners) > 1:
        ctx.state.registry.pop(row.id, None)
        return "deleted_shared"
    driver = ctx.resolution(row.namespace).driver
    if driver is None:
        return "blocked"
    driver.delete(row.uri)
    ctx.state.registry.pop(row.id, None)
    return "deleted_object"


def run_pass(ctx: EmulatorContext, namespace: str, limit: int) -> dict[str, Any]:
    limit = min(MAX_BATCH_SIZE, max(1, limit))
    report: dict[str, Any] = dict.fromkeys(_COUNTERS, 0)
    with ctx.state.lock:
        for row in _expired(ctx, namespace)[:limit]:
            report["processed"] += 1
            try:
                outcome = _cleanup_one(ctx, row)
            except StorageError:
                report["blocked"] += 1
                report["storage_driver_failures"] += 1
                continue
            if outcome == "deleted_object":
                report["deleted_references"] += 1
                report["deleted_backing_objects"] += 1
            elif outcome == "deleted_shared":
                report["deleted_references"] += 1
                report["shared_objects_preserved"] += 1
            else:
                report[outcome if outcome == "blocked" else "skipped"] += 1
        backlog = len(_expired(ctx, namespace))
        report["backlog"] = backlog
        report["scan_limit"] = limit
        report["scan_pressure"] = backlog > 0 and report["processed"] >= limit
        _record(ctx, namespace, report)
    return report


def _record(ctx: EmulatorContext, namespace: str, report: dict[str, Any]) -> None:
    stats = ctx.state.cleanup_stats.setdefault(namespace, CleanupStats())
    now = ctx.state.now()
    stats.passes += 1
    stats.deleted_references += report["deleted_references"]
    stats.deleted_backing_objects += report["deleted_backing_objects"]
    stats.shared_objects_preserved += report["shared_objects_preserved"]
    stats.blocked_outcomes += report["blocked"]
    stats.storage_driver_failures += report["storage_driver_failures"]
    stats.last = {k: report[k] for k in _COUNTERS}
    failures = report["storage_driver_failures"]
    stats.last_pass_status = "failed" if failures else ("blocked" if report["blocked"] else "completed")
    stats.last_completed_at = now
    if failures:
        stats.last_storage_failure_at = now


def snapshot(ctx: EmulatorContext, namespace: str) -> dict[str, Any]:
    """``RuntimeExternalPayloadCleanupMetrics::snapshot``."""
    expired = _expired(ctx, namespace)
    stats = ctx.state.cleanup_stats.get(namespace) or CleanupStats()
    last = stats.last
    return {
        "schema": CLEANUP_METRICS_SCHEMA,
        "backlog": {
            "expired_unclaimed": len(expired),
            "failed_registration_objects": sum(1 for r in expired if r.upload_status == "writing"),
        },
        "bounds": {
            "abandoned_upload_expiry_seconds": ctx.limits.abandoned_upload_expiry_seconds,
            "default_batch_size": DEFAULT_BATCH_SIZE,
            "maximum_batch_size": MAX_BATCH_SIZE,
        },
        "totals": {
            "passes": stats.passes,
            "deleted_references": stats.deleted_references,
            "deleted_backing_objects": stats.deleted_backing_objects,
            "shared_objects_preserved": stats.shared_objects_preserved,
            "blocked_outcomes": stats.blocked_outcomes,
            "storage_driver_failures": stats.storage_driver_failures,
        },
        "last_pass": {
            "status": stats.last_pass_status,
            "processed": last.get("processed", 0),
            "deleted_references": last.get("deleted_references", 0),
            "deleted_backing_objects": last.get("deleted_backing_objects", 0),
            "shared_objects_preserved": last.get("shared_objects_preserved", 0),
            "blocked_outcomes": last.get("blocked", 0),
            "storage_driver_failures": last.get("storage_driver_failures", 0),
            "completed_at": iso_micros(stats.last_completed_at),
            "last_storage_failure_at": iso_micros(stats.last_storage_failure_at),
        },
        "identity_policy": {
            "provider_credentials_exposed": False,
            "provider_locations_exposed": False,
            "reusable_reference_identities_exposed": False,
        },
    }
