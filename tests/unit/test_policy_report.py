"""Conditions and namespace status from per-namespace outcomes: drift is counted, faults are named."""

from __future__ import annotations

from payload_operator.api.status import ConditionType, ServerGeneration
from payload_operator.planning.conditions import merge_conditions
from payload_operator.planning.policy_report import NamespaceOutcome, PolicyError, build_report
from payload_operator.planning.readiness import ready_summary

NOW = "2026-11-20T12:00:00Z"


def ok(name: str, **kw: object) -> NamespaceOutcome:
    base = {
        "generation": ServerGeneration.A,
        "in_sync": True,
        "storage_ok": True,
        "storage_reason": "StorageTestPassed",
    }
    return NamespaceOutcome(name=name, **(base | kw))  # type: ignore[arg-type]


def test_first_sync_is_not_drift() -> None:
    report = build_report([ok("orders", wrote=True)], [], spec_changed=True, observe=False, now=NOW)
    assert report.healthy
    assert report.namespaces[0]["driftCorrections"] == 0
    assert report.namespaces[0]["lastSyncTime"] == NOW
    assert not report.events


def test_rewrite_of_a_synced_namespace_is_counted_drift() -> None:
    previous = [{"name": "orders", "policyInSync": True, "driftCorrections": 2, "lastSyncTime": "earlier"}]
    report = build_report([ok("orders", wrote=True)], previous, spec_changed=False, observe=False, now=NOW)
    assert report.namespaces[0]["driftCorrections"] == 3
    assert [e.reason for e in report.events] == ["DriftRepaired"]


def test_steady_state_changes_nothing() -> None:
    previous = [
        {
            "name": "orders",
            "generation": "A",
            "policyInSync": True,
            "lastSyncTime": "earlier",
            "storageStatus": "available",
        }
    ]
    report = build_report(
        [ok("orders", storage_status="available")], previous, spec_changed=False, observe=False, now=NOW
    )
    assert report.namespaces[0]["lastSyncTime"] == "earlier"
    assert not report.events


def test_server_fault_names_reason_and_leaves_storage_unknown() -> None:
    outcome = NamespaceOutcome(
        name="orders", policy_error=PolicyError("ServerUnreachable", "GET /api/cluster/info: timed out")
    )
    report = build_report([outcome], [], spec_changed=False, observe=False, now=NOW)
    policy_condition, storage_condition = report.conditions
    assert (policy_condition.status.value, policy_condition.reason) == ("False", "ServerUnreachable")
    assert (storage_condition.status.value, storage_condition.reason) == ("Unknown", "ServerUnreachable")
    assert not report.healthy


def test_observe_mode_reports_drift_without_writing() -> None:
    outcome = ok("orders", in_sync=False, differences=["enabled is False, want True"])
    report = build_report([outcome], [], spec_changed=False, observe=True, now=NOW)
    assert report.conditions[0].reason == "DriftDetected"
    assert [e.reason for e in report.events] == ["DriftDetected"]


def test_transition_time_moves_only_on_flip() -> None:
    first = merge_conditions([], [ok_condition("True")], generation=1, now="t1")
    same = merge_conditions(first, [ok_condition("True", "other message")], generation=2, now="t2")
    flipped = merge_conditions(same, [ok_condition("False")], generation=2, now="t3")
    assert first[0]["lastTransitionTime"] == same[0]["lastTransitionTime"] == "t1"
    assert flipped[0]["lastTransitionTime"] == "t3"
    assert same[0]["observedGeneration"] == 2


def ok_condition(status: str, message: str = "m"):  # type: ignore[no-untyped-def]
    from payload_operator.api.status import ConditionStatus
    from payload_operator.planning.conditions import ConditionUpdate

    return ConditionUpdate("PolicySynced", ConditionStatus(status), "R", message)


def test_ready_carries_the_first_problem() -> None:
    storage = {"type": "StorageReachable", "status": "False", "reason": "StorageDriverUnavailable", "message": "x"}
    conditions = [*merge_conditions([], [ok_condition("True")], generation=1, now="t"), storage]
    ready = ready_summary(conditions, [ConditionType.POLICY_SYNCED, ConditionType.STORAGE_REACHABLE])
    assert (ready.status.value, ready.reason) == ("False", "StorageDriverUnavailable")


def test_spec_notes_ride_on_policy_synced_and_are_announced_once_per_spec_change() -> None:
    note = "spec.prefix 'team/a' is ignored by the local driver"
    first = build_report([ok("orders", wrote=True)], [], spec_changed=True, observe=False, now=NOW, notes=[note])
    [synced] = [c for c in first.conditions if c.type == ConditionType.POLICY_SYNCED]
    assert synced.status == "True"
    assert synced.message.endswith(f"; note: {note}")
    assert [(e.type, e.reason, e.message) for e in first.events] == [("Warning", "SpecNotHonoured", note)]
    resync = build_report([ok("orders")], first.namespaces, spec_changed=False, observe=False, now=NOW, notes=[note])
    assert resync.events == []
