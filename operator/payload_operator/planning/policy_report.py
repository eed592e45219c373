"""Turn per-namespace outcomes into conditions, namespace status entries and Events (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from payload_operator.api.status import ConditionType, NamespaceStatus, ServerGeneration
from payload_operator.planning.conditions import ConditionUpdate, false, true, unknown


@dataclass(frozen=True)
class PolicyError:
    """A failed call, reduced to what status may show: a reason word and a secret-free message."""

    reason: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class NamespaceOutcome:
    """What one namespace looked like after a policy pass."""

    name: str
    generation: ServerGeneration = ServerGeneration.UNKNOWN
    storage_status: str = ""
    in_sync: bool = False
    wrote: bool = False
    differences: list[str] = field(default_factory=list)
    policy_error: PolicyError | None = None
    storage_ok: bool | None = None
    storage_reason: str = ""
    storage_message: str = ""
    retry_after: float | None = None
    """Seconds the server asked us to wait (429/503 Retry-After), if it did."""

    @property
    def policy_problem(self) -> str:
        """A one-line description of why the policy is not in sync, if it is not."""
        if self.policy_error is not None:
            return self.policy_error.message
        return "; ".join(self.differences)


@dataclass(frozen=True)
class EventNote:
    """An Event to post on the resource."""

    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class PolicyReport:
    """Everything a policy pass concluded."""

    conditions: list[ConditionUpdate]
    namespaces: list[dict[str, Any]]
    events: list[EventNote] = field(default_factory=list)
    healthy: bool = False


def _previous(entries: Sequence[dict[str, Any]], name: str) -> NamespaceStatus:
    for entry in entries:
        if entry.get("name") == name:
            return NamespaceStatus.model_validate(entry)
    return NamespaceStatus(name=name)


def build_report(
    outcomes: Sequence[NamespaceOutcome],
    previous_namespaces: Sequence[dict[str, Any]],
    *,
    spec_changed: bool,
    observe: bool,
    now: str,
    notes: Sequence[str] = (),
) -> PolicyReport:
    """Conditions and status for a pass; a write to a namespace that was in sync for this spec is drift.

    `notes` are spec settings the server does not honour: they ride on PolicySynced and are announced
    once per spec change as a SpecNotHonoured Event.
    """
    events: list[EventNote] = []
    if spec_changed:
        events.extend(EventNote("Warning", "SpecNotHonoured", note) for note in notes)
    entries: list[dict[str, Any]] = []
    policy_failures: list[NamespaceOutcome] = []
    storage_failures: list[NamespaceOutcome] = []
    for outcome in outcomes:
        before = _previous(previous_namespaces, outcome.name)
        drift_repaired = outcome.wrote and outcome.in_sync and before.policy_in_sync and not spec_changed
        if drift_repaired:
            events.append(
                EventNote(
                    "Warning", "DriftRepaired", f"namespace {outcome.name}: policy changed on the server, put back"
                )
            )
        if observe and outcome.differences and not before.message.startswith("drift"):
            events.append(
                EventNote(
                    "Warning",
                    "DriftDetected",
                    f"namespace {outcome.name}: {outcome.policy_problem} (Observe: not changed)",
                )
            )
        if outcome.policy_error is not None or not outcome.in_sync:
            policy_failures.append(outcome)
        if outcome.storage_ok is False:
            storage_failures.append(outcome)
        message = ""
        if outcome.policy_error is not None:
            message = str(outcome.policy_error)
        elif outcome.differences:
            message = f"drift: {outcome.policy_problem}"
        elif outcome.storage_ok is False:
            message = outcome.storage_message
        synced_now = outcome.in_sync and (outcome.wrote or not before.policy_in_sync or spec_changed)
        entry = NamespaceStatus(
            name=outcome.name,
            generation=outcome.generation if outcome.policy_error is None else before.generation,
            storage_status=outcome.storage_status or before.storage_status,
            policy_in_sync=outcome.in_sync,
            last_sync_time=now if synced_now else before.last_sync_time,
            drift_corrections=before.drift_corrections + (1 if drift_repaired else 0),
            message=message,
        )
        entries.append(entry.to_wire())
    conditions = [_policy_condition(outcomes, policy_failures, observe, notes)]
    storage = _storage_condition(outcomes, storage_failures)
    if storage is not None:
        conditions.append(storage)
    healthy = not policy_failures and not storage_failures
    return PolicyReport(conditions=conditions, namespaces=entries, events=events, healthy=healthy)


def _policy_condition(
    outcomes: Sequence[NamespaceOutcome], failures: Sequence[NamespaceOutcome], observe: bool, notes: Sequence[str]
) -> ConditionUpdate:
    if not failures:
        verb = "matches" if observe else "in sync"
        noted = "".join(f"; note: {note}" for note in notes)
        return true(
            ConditionType.POLICY_SYNCED,
            "PolicyInSync",
            f"policy {verb} in {len(outcomes)} namespace(s): {', '.join(o.name for o in outcomes)}{noted}",
        )
    first = failures[0]
    if first.policy_error is not None:
        reason = first.policy_error.reason
    else:
        reason = "DriftDetected" if observe else "VerifyFailed"
    detail = "; ".join(f"{o.name}: {o.policy_problem}" for o in failures)
    return false(ConditionType.POLICY_SYNCED, reason, f"{len(failures)}/{len(outcomes)} namespace(s): {detail}")


def _storage_condition(
    outcomes: Sequence[NamespaceOutcome], failures: Sequence[NamespaceOutcome]
) -> ConditionUpdate | None:
    """None when nothing new was learnt (a healthy resync without probing keeps the last verdict)."""
    if failures:
        first = failures[0]
        detail = "; ".join(f"{o.name}: {o.storage_message}" for o in failures)
        return false(ConditionType.STORAGE_REACHABLE, first.storage_reason, detail)
    if any(o.policy_error is not None for o in outcomes):
        first_error = next(o.policy_error for o in outcomes if o.policy_error is not None)
        assert first_error is not None
        return unknown(
            ConditionType.STORAGE_REACHABLE, first_error.reason, "storage not probed: the server could not be read"
        )
    if outcomes and all(o.storage_reason == "PolicyDisabled" for o in outcomes):
        return unknown(ConditionType.STORAGE_REACHABLE, "PolicyDisabled", "spec.enabled is false: nothing to probe")
    if any(o.storage_ok is None for o in outcomes):
        return None
    if all(o.storage_reason == "StorageAvailable" for o in outcomes):
        return None  # discovery only confirms the last verdict (a False one is always probed again)
    return true(
        ConditionType.STORAGE_REACHABLE,
        outcomes[0].storage_reason if outcomes else "StorageTestPassed",
        f"storage answers in {len(outcomes)} namespace(s)",
    )
