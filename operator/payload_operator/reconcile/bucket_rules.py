"""Keep a resource's lifecycle rules on its bucket: read, plan, write, read back, report.

The one use case behind the operator's lifecycle handler and `payload-operator lifecycle`. It is
synchronous like the provider SDKs (the operator runs it in a worker thread). The planner decides,
the RuleStore moves whole rule sets; this module sequences them and turns the result into the
LifecycleSynced condition and `status.lifecycle`. A write is reported as applied only after a
read-back shows it, since S3 may serve the old configuration for a moment.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from payload_operator.adapters.bucket_rules.base import ConcurrentUpdate, RuleStore, Snapshot
from payload_operator.adapters.storage.base import StorageError
from payload_operator.api.resource import Resource
from payload_operator.api.spec import ExternalPayloadStorageSpec, ManagementPolicy
from payload_operator.api.status import ConditionType, LifecycleStatus
from payload_operator.core.timefmt import format_time
from payload_operator.planning.bucket_rules import (
    Dialect,
    ForeignRoot,
    LifecyclePlan,
    Owner,
    RuleSet,
    plan_removal,
    plan_sync,
)
from payload_operator.planning.conditions import ConditionUpdate, false, true

VERIFY_DELAYS = (0.0, 0.5, 1.0, 2.0)
"""Pauses before each read-back: S3 documents a propagation lag after a PUT."""
WRITE_ATTEMPTS = 3
"""Read-plan-write rounds when a write precondition (GCS metageneration) shows a concurrent change."""
MAX_OWNED_IDS = 20  # the status model's bound

RULES_APPLIED = "RulesApplied"
RULES_REMOVED = "RulesRemoved"
OBSERVED = "Observed"
DRIFT_DETECTED = "DriftDetected"
CONFLICT = "Conflict"
NOT_VERIFIED = "NotVerified"

Planner = Callable[[Dialect, Owner, ExternalPayloadStorageSpec, RuleSet], LifecyclePlan]


@dataclass(frozen=True)
class LifecycleOutcome:
    """Everything the caller reports: the LifecycleSynced condition, `status.lifecycle`, the plan."""

    condition: ConditionUpdate
    status: LifecycleStatus
    plan: LifecyclePlan | None = None
    """None when the rules could not be read."""
    applied: bool = False
    """Whether rules were written."""
    drift_repaired: bool = False
    """Whether an owned rule changed or removed by hand was put back."""


def owner_of(resource: Resource) -> Owner:
    """The owner identity rule IDs and labels carry."""
    return Owner(resource.namespace, resource.name, resource.short_uid)


def sync_lifecycle(
    resource: Resource,
    store: RuleStore,
    *,
    now: datetime,
    previous: LifecycleStatus | None = None,
    apply: bool = True,
    spec_changed: bool = False,
    verify_delays: Sequence[float] = VERIFY_DELAYS,
    foreign: Sequence[ForeignRoot] = (),
) -> LifecycleOutcome:
    """Bring our rules to what the spec asks, keeping every foreign rule as it is.

    `apply=False` (a dry run) and `managementPolicy: Observe` only report. `previous` is the last
    `status.lifecycle`; owned rules it lists that are now missing or different count as drift,
    unless `spec_changed` says the difference is the user's own update. Without `spec.lifecycle`
    the bucket's rules are left alone, so calling this is an error; with `enabled: false` or in
    Sweep mode it removes the native rules we own. A prefix overlapping one of the `foreign` roots
    (other resources on the same bucket) is withdrawn: our rule there is removed (Conflict), never written.
    """
    if resource.spec.lifecycle is None:
        raise ValueError("spec.lifecycle is not set: bucket rules are left alone")
    return _run(
        partial(plan_sync, foreign=foreign),
        RULES_APPLIED,
        resource,
        store,
        now=now,
        previous=previous,
        apply=apply,
        spec_changed=spec_changed,
        verify_delays=verify_delays,
    )


def remove_owned_rules(
    resource: Resource,
    store: RuleStore,
    *,
    now: datetime,
    previous: LifecycleStatus | None = None,
    apply: bool = True,
    verify_delays: Sequence[float] = VERIFY_DELAYS,
) -> LifecycleOutcome:
    """Remove every rule this resource owns (deletionPolicy Delete); the configuration is deleted
    only when no foreign rule is left. Observe and `apply=False` only report."""
    return _run(
        plan_removal,
        RULES_REMOVED,
        resource,
        store,
        now=now,
        previous=previous,
        apply=apply,
        spec_changed=True,
        verify_delays=verify_delays,
    )


def _run(
    planner: Planner,
    done_reason: str,
    resource: Resource,
    store: RuleStore,
    *,
    now: datetime,
    previous: LifecycleStatus | None,
    apply: bool,
    spec_changed: bool,
    verify_delays: Sequence[float],
) -> LifecycleOutcome:
    before = previous or LifecycleStatus()
    owner = owner_of(resource)
    observe = resource.spec.management_policy is ManagementPolicy.OBSERVE

    def read_and_plan() -> tuple[Snapshot, LifecyclePlan]:
        snapshot = store.read()
        return snapshot, planner(store.dialect, owner, resource.spec, snapshot.rules)

    try:
        plan, applied = _apply(read_and_plan, store, write=apply and not observe)
        verified = not plan.needs_write or (applied and _read_back(read_and_plan, plan, store.dialect, verify_delays))
    except StorageError as exc:
        return LifecycleOutcome(false(ConditionType.LIFECYCLE_SYNCED, exc.reason, f"{store.location}: {exc}"), before)
    drift = not spec_changed and _drifted(plan, before)
    status = _status(plan, before, now, applied=applied, verified=verified, repaired=applied and drift)
    report_only = "Observe" if observe else ("" if apply else "dry run")
    condition = _condition(plan, store.location, done_reason, report_only=report_only, verified=verified, drift=drift)
    return LifecycleOutcome(condition, status, plan, applied, applied and drift)


def _apply(
    read_and_plan: Callable[[], tuple[Snapshot, LifecyclePlan]], store: RuleStore, *, write: bool
) -> tuple[LifecyclePlan, bool]:
    """Plan against a fresh read and write; re-read and re-plan when the write finds a concurrent change."""
    for _ in range(WRITE_ATTEMPTS):
        snapshot, plan = read_and_plan()
        if not write or not plan.needs_write:
            return plan, False
        try:
            store.write(plan.result, snapshot.token)
        except ConcurrentUpdate:
            continue
        return plan, True
    raise ConcurrentUpdate(f"the rules kept changing during {WRITE_ATTEMPTS} attempts")


def _read_back(
    read_and_plan: Callable[[], tuple[Snapshot, LifecyclePlan]],
    written: LifecyclePlan,
    dialect: Dialect,
    delays: Sequence[float],
) -> bool:
    """Whether a read-back shows our rules as written and every foreign rule still there."""
    expected = Counter(dialect.canonical(rule) for rule in written.foreign)
    for delay in delays:
        time.sleep(delay)
        _, again = read_and_plan()
        found = Counter(dialect.canonical(rule) for rule in again.foreign)
        if not again.needs_write and not expected - found:
            return True
    return False


def _drifted(plan: LifecyclePlan, previous: LifecycleStatus) -> bool:
    """Whether a rule we had verified on the bucket is now missing or different."""
    if previous.last_verified_time is None:
        return False
    known = set(previous.owned_rule_ids)
    return any(rule.rule_id in known for rule in (*plan.add, *plan.change))


def _status(
    plan: LifecyclePlan, previous: LifecycleStatus, now: datetime, *, applied: bool, verified: bool, repaired: bool
) -> LifecycleStatus:
    present = plan.owned if applied else (*plan.change, *plan.keep, *plan.remove)
    # Moves when rules were written and read back, or first found as desired; a resync that finds them
    # unchanged keeps it, so settled resources cause no status write (no heartbeat in status).
    settled = verified and not plan.refusals and not plan.withdrawn
    confirmed = settled and (applied or previous.last_verified_time is None)
    return previous.model_copy(
        update={
            "owned_rule_ids": [rule.rule_id for rule in present][:MAX_OWNED_IDS],
            "foreign_rule_count": plan.foreign_count,
            "last_verified_time": format_time(now) if confirmed else previous.last_verified_time,
            "drift_repairs": previous.drift_repairs + int(repaired),
        }
    )


def _condition(
    plan: LifecyclePlan, location: str, done_reason: str, *, report_only: str, verified: bool, drift: bool
) -> ConditionUpdate:
    """LifecycleSynced: refusals first, then conflicts, then what was (or would be) done."""
    kind = ConditionType.LIFECYCLE_SYNCED
    foreign = f"{plan.foreign_count} foreign {_rules(plan.foreign_count)} preserved"
    if plan.refusals:
        reasons = "; ".join(r.message for r in plan.refusals)
        return false(kind, plan.refusals[0].reason, f"{location}: {reasons}; nothing written")
    if report_only and plan.needs_write:
        changes = f"add {len(plan.add)}, change {len(plan.change)}, remove {len(plan.remove)}"
        summary = f"{location}: not applied ({report_only}): would {changes} owned rules; {foreign}"
    elif report_only:
        summary = f"{location}: {len(plan.keep)} owned {_rules(len(plan.keep))} in place, {foreign}"
    else:
        summary = f"{location}: {len(plan.owned)} owned {_rules(len(plan.owned))} applied, {foreign}"
        summary += f", {len(plan.remove)} removed" if plan.remove else ""
        summary += ", configuration deleted" if plan.deletes_configuration else ""
        summary += "; drift repaired" if drift else ""
    if plan.withdrawn:
        reasons = "; ".join(r.message for r in plan.withdrawn)
        if not plan.remove:
            return false(kind, plan.withdrawn[0].reason, f"{location}: {reasons}; nothing written")
        # Our rule predates the other resource: it had to go, which both owners should hear about.
        ids = ", ".join(repr(r.rule_id) for r in plan.remove)
        done = f"would remove our {ids} ({report_only})" if report_only else f"removed our {ids}"
        unverified = "" if report_only or verified else ", but the read-back still differs"
        return false(kind, CONFLICT, f"{location}: {reasons}; {done}{unverified}, nothing else written")
    if plan.conflicts:
        clashes = "; ".join(
            f"{c.prefix!r} overlaps {c.other_rule!r} (owner uid {c.other_owner})" for c in plan.conflicts
        )
        return false(kind, CONFLICT, f"{summary}; overlapping prefixes left as they were or disabled: {clashes}")
    if report_only:
        return false(kind, DRIFT_DETECTED, summary) if plan.needs_write else true(kind, OBSERVED, summary)
    if not verified:
        return false(kind, NOT_VERIFIED, f"{summary}, but the read-back still differs")
    return true(kind, done_reason, summary)


def _rules(count: int) -> str:
    return "rule" if count == 1 else "rules"
