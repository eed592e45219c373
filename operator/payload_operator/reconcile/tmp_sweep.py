"""Delete expired temporary objects ourselves where no provider rule does it (Sweep mode).

Lists <root><tmpPrefix> for each safe temporary prefix and deletes objects last modified more than
`expirationDays` before `now`, in the provider's batch size (S3 1000, Azure 256, GCS 100). `now` is a
parameter so schedules and tests decide the clock. Observe and `apply=False` count without deleting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from payload_operator.adapters.storage.base import ObjectStore, StorageError
from payload_operator.adapters.storage.bulk import delete_all
from payload_operator.api.resource import Resource
from payload_operator.api.spec import ManagementPolicy
from payload_operator.api.status import ConditionType, LifecycleStatus
from payload_operator.core.timefmt import format_time
from payload_operator.planning.bucket_rules import ForeignRoot, safe_key_prefixes, spec_refusals
from payload_operator.planning.conditions import ConditionUpdate, false, true
from payload_operator.planning.tmp_expiry import cutoff, expired

SWEPT = "Swept"
OBSERVED = "Observed"
SWEEP_INCOMPLETE = "SweepIncomplete"
COUNTS = ("listed", "expired", "deleted", "failed")


@dataclass(frozen=True)
class SweepOutcome:
    """The LifecycleSynced condition, counts (listed, expired, deleted, failed) and `status.lifecycle`."""

    condition: ConditionUpdate
    status: LifecycleStatus
    counts: dict[str, int] = field(default_factory=dict)


def sweep_tmp(
    resource: Resource,
    store: ObjectStore,
    *,
    now: datetime,
    previous: LifecycleStatus | None = None,
    apply: bool = True,
    foreign: Sequence[ForeignRoot] = (),
) -> SweepOutcome:
    """One sweep of the resource's temporary prefixes; refuses outright when any prefix is unsafe or
    overlaps one of the `foreign` roots (other resources on the same bucket)."""
    last = previous or LifecycleStatus()
    spec = resource.spec
    kind = ConditionType.LIFECYCLE_SYNCED
    where = f"{store.scheme}://{store.bucket}"
    refusals = spec_refusals(spec, foreign)
    if refusals:
        reasons = "; ".join(r.message for r in refusals)
        return SweepOutcome(false(kind, refusals[0].reason, f"{where}: {reasons}; nothing deleted"), last)
    lifecycle = spec.lifecycle
    prefixes = safe_key_prefixes(spec) if lifecycle and lifecycle.enabled else ()
    older_than = cutoff(now, lifecycle.expiration_days) if lifecycle else now
    report_only = not apply or spec.management_policy is ManagementPolicy.OBSERVE
    counts: Counter[str] = Counter(dict.fromkeys(COUNTS, 0))
    try:
        for prefix in prefixes:
            _sweep_prefix(store, prefix, older_than, counts, report_only=report_only)
    except StorageError as exc:
        return SweepOutcome(false(kind, exc.reason, f"{where}: {exc}"), last, dict(counts))
    result = dict(counts)
    status = last.model_copy(update={"last_sweep": result, "last_sweep_time": format_time(now)})
    summary = f"{where}: {_summary(result, report_only)} under {', '.join(map(repr, prefixes)) or 'no prefix'}"
    if counts["failed"]:
        return SweepOutcome(false(kind, SWEEP_INCOMPLETE, summary), status, result)
    return SweepOutcome(true(kind, OBSERVED if report_only else SWEPT, summary), status, result)


def _sweep_prefix(
    store: ObjectStore, prefix: str, before: datetime, counts: Counter[str], *, report_only: bool
) -> None:
    """List one prefix and delete what has expired, a provider batch at a time, while listing."""

    def old_keys() -> Iterator[str]:
        for info in store.list(prefix):
            counts["listed"] += 1
            if expired(info.key, info.last_modified, prefix, before):
                yield info.key

    keys = old_keys()
    if report_only:
        counts["expired"] += sum(1 for _ in keys)
        return
    for result in delete_all(store, keys):
        counts["expired"] += len(result.deleted) + len(result.errors)
        counts["deleted"] += len(result.deleted)
        counts["failed"] += len(result.errors)


def _summary(counts: dict[str, int], report_only: bool) -> str:
    if report_only:
        return f"{counts['expired']} expired of {counts['listed']} objects, none deleted (report only)"
    return f"deleted {counts['deleted']} of {counts['expired']} expired objects ({counts['listed']} listed)"
