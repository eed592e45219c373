"""One reconcile of the policy concern for one resource: parse, check, sync, publish, report.

Runtime faults never escape as exceptions: they become False conditions with a reason, the
resource's backoff grows, and the timer retries when the backoff allows. Only programming errors
propagate (and Kopf retries those with its own backoff).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import ValidationError

from payload_operator.adapters.kube import KubeClient, KubeError, one_read_per_secret
from payload_operator.adapters.run_context import server_ca_bundle
from payload_operator.adapters.server import InvalidCaBundle, ServerClient
from payload_operator.adapters.tenancy import Admission
from payload_operator.api.resource import Resource, generation_of, resource_from_body
from payload_operator.api.rules import bound_storage, immutable_field_changes
from payload_operator.api.spec import LifecycleMode, ManagementPolicy
from payload_operator.api.status import BoundStorage, ConditionType
from payload_operator.core import metrics
from payload_operator.core.backoff import Backoff
from payload_operator.core.timefmt import format_time
from payload_operator.planning.bucket_rules import lifecycle_mode
from payload_operator.planning.conditions import ConditionUpdate, conditions_of, false, unknown
from payload_operator.planning.policy import spec_notes
from payload_operator.planning.policy_report import EventNote, build_report
from payload_operator.planning.readiness import ready_inputs
from payload_operator.planning.resync import resync_interval
from payload_operator.planning.status_change import StatusChange
from payload_operator.planning.tenancy import DENIED, refusal_message
from payload_operator.reconcile import published, rollout
from payload_operator.reconcile.lifecycle import next_sweep_at, reconcile_lifecycle, sweep_due
from payload_operator.reconcile.policy import sync_all

DEFAULT_RESYNC_SECONDS = 300
"""How often an invalid spec is reported again (it has no resyncIntervalSeconds of its own)."""


@dataclass
class ResourceState:
    """What the operator remembers about one resource between ticks (in memory only)."""

    backoff: Backoff
    last_policy_check: float = 0.0
    last_generation: int | None = None


@dataclass
class PassResult:
    """The status change and Events one pass produced."""

    change: StatusChange
    events: list[EventNote] = field(default_factory=list)
    healthy: bool = False
    retry_after: float | None = None
    """The longest Retry-After the server sent during the pass; the backoff honours it."""


def describe_validation_error(error: ValidationError) -> str:
    """The first few field errors as `spec.a.b: message`, without echoing input values."""
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-"))
        parts.append(f"spec.{location}: {item['msg']}" if location else f"spec: {item['msg']}")
    return "; ".join(parts)


def parse(body: Mapping[str, Any]) -> Resource | PassResult:
    """The typed resource, or the status that says why the spec is refused."""
    try:
        return resource_from_body(body)
    except ValidationError as exc:
        message = describe_validation_error(exc)
        change = StatusChange(
            conditions=[false(ConditionType.POLICY_SYNCED, "InvalidSpec", message)],
            generation=generation_of(body),
            completes_reconcile=True,
        )
        return PassResult(change, [EventNote("Warning", "InvalidSpec", message)])


def _bound(status: Any) -> BoundStorage | None:
    raw = status.get("bound") if isinstance(status, dict) else None
    return BoundStorage.model_validate(raw) if isinstance(raw, dict) else None


def _storage_reachable_is_true(status: Any) -> bool:
    return any(
        c.get("type") == ConditionType.STORAGE_REACHABLE.value and c.get("status") == "True"
        for c in conditions_of(status)
    )


async def reconcile_policy(
    resource: Resource,
    body: dict[str, Any],
    kube: KubeClient,
    state: ResourceState,
    admission: Admission,
    *,
    namespace_concurrency: int,
) -> PassResult:
    """Policy, published objects and the PolicySynced/StorageReachable conditions for one resource.

    `resource` is `body` parsed (`parse`). A resource the tenant policy refuses gets PolicySynced False
    (TenantPolicyDenied) and nothing is called. The pass is counted and its conditions' gauges set, whichever
    way it ended."""
    with one_read_per_secret():
        result = await _policy_pass(resource, body, kube, state, admission, namespace_concurrency=namespace_concurrency)
    record_conditions(resource, result.change.conditions)
    return result


async def _policy_pass(
    resource: Resource,
    body: dict[str, Any],
    kube: KubeClient,
    state: ResourceState,
    admission: Admission,
    *,
    namespace_concurrency: int,
) -> PassResult:
    spec = resource.spec
    status = body.get("status") or {}
    generation = resource.generation
    # Status remembers the generation last reconciled, so a restarted operator does not mistake every
    # resource for a changed one (which would re-probe storage, a write, and miss drift made meanwhile).
    remembered = state.last_generation if state.last_generation is not None else status.get("observedGeneration")
    spec_changed = remembered != generation or status.get("observedGeneration") != generation
    fields: dict[str, Any] = {"bucket": spec.bucket}
    changes = immutable_field_changes(spec, _bound(status))
    if changes:
        message = "; ".join(changes) + ": recreate the resource to move to other storage"
        condition = false(ConditionType.POLICY_SYNCED, "ImmutableFieldChanged", message)
        return PassResult(
            _reconciled(generation, [condition]),
            [EventNote("Warning", "ImmutableFieldChanged", message)],
        )
    denied = await admission.violations(resource)
    if denied:
        message = refusal_message(denied)
        state.last_generation = generation  # announced once per generation, not on every retry
        return PassResult(
            _reconciled(generation, _denied(body.get("spec"), message), fields),
            [EventNote("Warning", DENIED, message)] if spec_changed else [],
        )
    try:
        token = await kube.read_secret_key(
            resource.namespace, spec.server.token_secret_ref.name, spec.server.token_secret_ref.key
        )
        ca_bundle = await server_ca_bundle(kube, resource)
        peer_check = await admission.server_peer_check(resource)
        server = ServerClient.for_server(spec.server, token, ca_bundle, peer_check=peer_check)
    except (KubeError, InvalidCaBundle) as exc:
        condition = false(ConditionType.POLICY_SYNCED, exc.reason, str(exc))
        return PassResult(_reconciled(generation, [condition], fields))
    manage = spec.management_policy == ManagementPolicy.MANAGE
    probe = spec_changed or not _storage_reachable_is_true(status)
    async with server as client:
        env_secret = published.server_env_secret_name(resource)
        outcomes = await sync_all(
            client, spec, manage=manage, probe=probe, env_secret=env_secret, concurrency=namespace_concurrency
        )
    report = build_report(
        outcomes,
        status.get("namespaces") or [],
        spec_changed=spec_changed,
        observe=not manage,
        now=format_time(datetime.now(UTC)),
        notes=spec_notes(spec),
    )
    metrics.DRIFT_REPAIRS.labels(resource.namespace, resource.name).inc(
        sum(1 for e in report.events if e.reason == "DriftRepaired")
    )
    fields["namespaces"] = report.namespaces
    if report.healthy and status.get("bound") is None:
        fields["bound"] = bound_storage(spec).to_wire()
    events = list(report.events)
    if manage and report.healthy:
        try:
            done = await published.publish(kube, resource, body)
            names = spec.publish.restart_deployments
            restarted = await rollout.restart_on_change(kube, resource.namespace, names, done.content_hash)
            fields["published"] = done.model_copy(update={"restarted": restarted}).to_wire()
        except KubeError as exc:
            reason = exc.reason if isinstance(exc, rollout.RestartFailed) else published.failure_reason(exc)
            report.conditions.append(false(ConditionType.POLICY_SYNCED, reason, str(exc)))
            report.healthy = False
    state.last_generation = generation
    lifecycle = await reconcile_lifecycle(
        kube,
        resource,
        status,
        spec_changed=spec_changed,
        sweep=sweep_due(status, datetime.now(UTC)),
        admission=admission,
    )
    if lifecycle is not None:
        report.conditions.extend(lifecycle.change.conditions)
        fields.update(lifecycle.change.fields)
        report.healthy = report.healthy and lifecycle.healthy
    waits = [o.retry_after for o in outcomes if o.retry_after is not None]
    change = _reconciled(generation, report.conditions, fields)
    return PassResult(change, events, report.healthy, retry_after=max(waits, default=None))


def record_conditions(resource: Resource, conditions: Sequence[ConditionUpdate]) -> None:
    """Count the pass and set each condition's gauge: the last word on each type, as status will hold it
    (a failed publish overrides PolicySynced; lifecycle conditions count too, the alerts read them)."""
    for condition in {c.type: c for c in conditions}.values():
        metrics.record_condition(resource, condition)


def _reconciled(
    generation: int, conditions: list[ConditionUpdate], fields: dict[str, Any] | None = None
) -> StatusChange:
    """The change that ends a policy pass over `generation`."""
    return StatusChange(generation=generation, conditions=conditions, fields=fields or {}, completes_reconcile=True)


def _denied(raw_spec: Any, message: str) -> list[ConditionUpdate]:
    """PolicySynced False with the refusal; the other conditions Ready waits for are Unknown for the same reason,
    so Ready says TenantPolicyDenied instead of waiting for conditions that will never come."""
    unchecked = [kind for kind in ready_inputs(raw_spec) if kind is not ConditionType.POLICY_SYNCED]
    why = "not checked: the resource is refused by the operator's tenant policy (see PolicySynced)"
    return [false(ConditionType.POLICY_SYNCED, DENIED, message), *(unknown(kind, DENIED, why) for kind in unchecked)]


def _sweeps(resource: Resource) -> bool:
    """Sweep mode with the lifecycle enabled: the tmp sweep runs on its own schedule between policy passes."""
    lifecycle = resource.spec.lifecycle
    return lifecycle is not None and lifecycle.enabled and lifecycle_mode(resource.spec) == LifecycleMode.SWEEP


def sweep_pending(resource: Resource, status: Any) -> bool:
    """Sweep mode: a sweep is due between policy checks."""
    return _sweeps(resource) and sweep_due(status, datetime.now(UTC))


class Upkeep(Enum):
    """What a timer tick does besides advancing the scheduled runs."""

    NOTHING = "nothing"
    POLICY = "policy"
    """A full policy pass: a failing resource's backoff has run out, or a healthy one's resync interval."""
    SWEEP = "sweep"
    """Sweep mode only: the tmp sweep is due between policy passes."""


def upkeep_due(state: ResourceState, parsed: Resource | PassResult, status: Any, now: float) -> Upkeep:
    """The timer's gate, `now` in monotonic seconds. An invalid spec (`parsed` is the refusal) is reported on
    the default resync interval, or on its backoff."""
    if now >= policy_check_at(state, parsed if isinstance(parsed, Resource) else None):
        return Upkeep.POLICY
    if isinstance(parsed, Resource) and sweep_pending(parsed, status):
        return Upkeep.SWEEP
    return Upkeep.NOTHING


def upkeep_at(state: ResourceState, parsed: Resource | PassResult, status: Any, now: float) -> float | None:
    """When upkeep is next due (monotonic seconds, `now` being the present), or None when a sweep is due now or
    its time is unknown: the timer may skip its ticks until then while the body stays the same."""
    at = policy_check_at(state, parsed if isinstance(parsed, Resource) else None)
    if isinstance(parsed, Resource) and _sweeps(parsed):
        sweep = next_sweep_at(status)
        if sweep is None:
            return None
        at = min(at, now + (sweep - datetime.now(UTC)).total_seconds())
    return at


def policy_check_at(state: ResourceState, resource: Resource | None) -> float:
    """When the next policy pass is due (monotonic seconds): a failing resource when its backoff allows, a healthy
    one on its resync interval (stretched by the resource's jitter, planning/resync.py); `resource` is None for
    an invalid spec."""
    if state.backoff.failures:
        return state.backoff.next_attempt
    if resource is None:
        interval: float = DEFAULT_RESYNC_SECONDS
    else:
        interval = resync_interval(resource.spec.server.resync_interval_seconds, resource.uid)
    return state.last_policy_check + interval


def record_outcome(state: ResourceState, result: PassResult, now: float | None = None) -> None:
    """Update the backoff after a pass."""
    now = time.monotonic() if now is None else now
    state.last_policy_check = now
    if result.healthy:
        state.backoff.succeeded()
    else:
        state.backoff.failed(now, result.retry_after)
