"""The lifecycle concern for one resource: owned expiration rules, or the tmp sweeper on its schedule.

Provider SDKs are synchronous, so every provider call runs in a worker thread. Failures become the
LifecycleSynced condition; nothing here raises for a storage fault.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from payload_operator.adapters.bucket_rules.factory import open_rule_store
from payload_operator.adapters.claims_watch import current_claims
from payload_operator.adapters.kube import KubeClient, KubeError
from payload_operator.adapters.run_context import admitted_credentials
from payload_operator.adapters.storage.base import StorageError
from payload_operator.adapters.storage.factory import open_store
from payload_operator.adapters.tenancy import Admission, TenantPolicyDenied
from payload_operator.api.resource import Resource
from payload_operator.api.spec import LifecycleMode
from payload_operator.api.status import ConditionType, LifecycleStatus
from payload_operator.core import metrics
from payload_operator.core.secrets import SecretValues
from payload_operator.core.timefmt import format_time, parse_time
from payload_operator.planning.bucket_rules import ForeignRoot, foreign_roots, lifecycle_mode
from payload_operator.planning.conditions import false
from payload_operator.planning.schedule import ScheduleError, effective_schedule, next_after, random_seed
from payload_operator.planning.status_change import StatusChange
from payload_operator.reconcile.bucket_rules import LifecycleOutcome, remove_owned_rules, sync_lifecycle
from payload_operator.reconcile.tmp_sweep import sweep_tmp


@dataclass
class LifecyclePass:
    """The status change of one lifecycle pass and whether it succeeded."""

    change: StatusChange
    healthy: bool


def _previous(status: Any) -> LifecycleStatus | None:
    raw = status.get("lifecycle") if isinstance(status, dict) else None
    return LifecycleStatus.model_validate(raw) if isinstance(raw, dict) else None


def _sync_rules(
    resource: Resource,
    credentials: SecretValues | None,
    now: datetime,
    previous: LifecycleStatus | None,
    *,
    spec_changed: bool,
    foreign: list[ForeignRoot],
) -> LifecycleOutcome | None:
    """Open the rule store, sync, close; None where the provider keeps no rules (local, Azure without ARM)."""
    rule_store = open_rule_store(resource.spec, credentials)
    if rule_store is None:
        return None
    try:
        return sync_lifecycle(
            resource, rule_store, now=now, previous=previous, spec_changed=spec_changed, foreign=foreign
        )
    finally:
        rule_store.close()


async def _foreign_roots(kube: KubeClient, resource: Resource, *, fresh: bool) -> list[ForeignRoot]:
    """The roots of every other resource on the same bucket, across the cluster (not only existing rules)."""
    claims = await current_claims(kube, resource.uid, resource.generation, fresh=fresh)
    return foreign_roots(resource.spec, resource.uid, claims)


def _failure(resource: Resource, reason: str, message: str) -> LifecyclePass:
    condition = false(ConditionType.LIFECYCLE_SYNCED, reason, message)
    return LifecyclePass(StatusChange(generation=resource.generation, conditions=[condition]), healthy=False)


def _next_sweep(resource: Resource, after: datetime) -> str:
    lifecycle = resource.spec.lifecycle
    assert lifecycle is not None
    seed = random_seed(resource.namespace, resource.name, "sweep")
    expression = effective_schedule(lifecycle.sweep_schedule, seed)
    return format_time(next_after(expression, after))


def next_sweep_at(status: Any) -> datetime | None:
    """Sweep mode: the next sweep time recorded in status; None when none was recorded (a sweep is due)."""
    previous = _previous(status)
    return None if previous is None else parse_time(previous.next_sweep_time)


def sweep_due(status: Any, now: datetime) -> bool:
    """Sweep mode: whether the next sweep time recorded in status has come (or none was recorded)."""
    sweep_at = next_sweep_at(status)
    return sweep_at is None or sweep_at <= now


async def reconcile_lifecycle(
    kube: KubeClient, resource: Resource, status: Any, *, spec_changed: bool, sweep: bool, admission: Admission
) -> LifecyclePass | None:
    """Sync owned rules (Native) or sweep when due (Sweep); None when the resource has no lifecycle block.

    Nothing is called when the tenant policy refuses the resource."""
    if resource.spec.lifecycle is None:
        return None
    now = datetime.now(UTC)
    previous = _previous(status)
    try:
        credentials = await admitted_credentials(kube, resource, admission)
        foreign = await _foreign_roots(kube, resource, fresh=spec_changed)
        mode = lifecycle_mode(resource.spec)
        # Opening a provider client costs real CPU: it happens in the worker thread, never on the event loop.
        outcome = await asyncio.to_thread(
            _sync_rules, resource, credentials, now, previous, spec_changed=spec_changed, foreign=foreign
        )
        result: LifecyclePass | None = None
        if outcome is not None:
            metrics.record_lifecycle_rules(
                resource, len(outcome.status.owned_rule_ids), outcome.status.foreign_rule_count
            )
            change = StatusChange(
                generation=resource.generation,
                conditions=[outcome.condition],
                fields={"lifecycle": outcome.status.to_wire()},
            )
            result = LifecyclePass(change, outcome.condition.is_true)
        if mode == LifecycleMode.SWEEP and sweep and resource.spec.lifecycle.enabled:
            store = await asyncio.to_thread(open_store, resource.spec, credentials)
            try:
                swept = await asyncio.to_thread(sweep_tmp, resource, store, now=now, previous=previous, foreign=foreign)
            finally:
                store.close()
            fields = swept.status.model_copy(update={"next_sweep_time": _next_sweep(resource, now)}).to_wire()
            change = StatusChange(
                generation=resource.generation, conditions=[swept.condition], fields={"lifecycle": fields}
            )
            result = LifecyclePass(change, swept.condition.is_true)
    except (KubeError, TenantPolicyDenied) as exc:
        return _failure(resource, exc.reason, str(exc))
    except StorageError as exc:
        return _failure(resource, exc.reason, str(exc))
    except ScheduleError as exc:
        return _failure(resource, "InvalidSchedule", str(exc))
    return result


async def release_lifecycle(kube: KubeClient, resource: Resource, admission: Admission) -> str | None:
    """On deletion with deletionPolicy Delete: remove our rules; returns a failure message or None."""
    if resource.spec.lifecycle is None:
        return None
    try:
        credentials = await admitted_credentials(kube, resource, admission)
        outcome = await asyncio.to_thread(_remove_rules, resource, credentials, datetime.now(UTC))
    except (KubeError, StorageError, TenantPolicyDenied) as exc:
        return f"lifecycle rules: {exc}"
    if outcome is None:
        return None
    return None if outcome.condition.is_true else f"lifecycle rules: {outcome.condition.message}"


def _remove_rules(resource: Resource, credentials: SecretValues | None, now: datetime) -> LifecycleOutcome | None:
    """Open the rule store (in the worker thread, like `_sync_rules`), remove our rules, close."""
    rule_store = open_rule_store(resource.spec, credentials)
    if rule_store is None:
        return None
    try:
        return remove_owned_rules(resource, rule_store, now=now)
    finally:
        rule_store.close()
