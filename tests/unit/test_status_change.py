"""Status changes: a status the CRD accepts, stamped with the generation they were computed for, and applying
one is pure (the same change on the same body gives the same status, however often Kopf applies it)."""

from __future__ import annotations

import copy
import logging
from typing import Any

import kopf
import pytest
from prometheus_client import REGISTRY

from payload_operator.api.status import ConditionType, ExternalPayloadStorageStatus
from payload_operator.core import metrics
from payload_operator.planning.conditions import false, true
from payload_operator.planning.status_change import StatusChange
from payload_operator.reconcile.status import add
from tests.support.status import apply_as_kopf

NOW, LATER = "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"
BODY: dict[str, Any] = {
    "metadata": {"namespace": "ns", "name": "eps", "generation": 3},
    "spec": {"lifecycle": {"enabled": True}},
}
HEALTHY = [true(ConditionType.POLICY_SYNCED, "PolicyInSync", "ok"), true(ConditionType.STORAGE_REACHABLE, "Passed")]


def _body(generation: int, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "eps", "generation": generation}, "spec": spec or {}}


def _condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == kind)


def test_applied_status_matches_the_schema_and_a_repeat_changes_nothing() -> None:
    change = StatusChange(
        generation=3,
        conditions=HEALTHY,
        fields={"bucket": "b", "bound": {"driver": "s3", "bucket": "b"}},
        completes_reconcile=True,
    )
    body = copy.deepcopy(BODY)
    body["status"] = change.status_for(body, NOW)
    ExternalPayloadStorageStatus.model_validate(body["status"])
    once = copy.deepcopy(body)
    body["status"] = change.status_for(body, LATER)
    assert body == once, "a repeated change must not produce a write, not even a new transition time"
    ready = _condition(body, "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "Reconciling"), "LifecycleSynced not evaluated yet"


def test_a_change_that_alters_nothing_queues_nothing_for_kopf() -> None:
    """A settled resync: no patch function, so Kopf neither copies and diffs the body nor sends a request."""
    change = StatusChange(generation=3, conditions=HEALTHY, fields={"bucket": "b"}, completes_reconcile=True)
    body = copy.deepcopy(BODY)
    first = kopf.Patch()
    add(first, change, body)
    assert len(first.fns) == 1, "a new status is queued"
    body["status"] = change.status_for(body, NOW)
    again = kopf.Patch()
    add(again, change, body)
    assert not again, "the same change on the status it produced queues nothing"


def test_applying_is_pure_the_body_is_left_alone_and_nothing_is_recorded() -> None:
    """Kopf may run the patch function many times: no metric may move and the input must not change."""
    body = copy.deepcopy(BODY)
    before = copy.deepcopy(body)
    metrics.forget("ns", "eps")
    statuses = [StatusChange(generation=3, conditions=HEALTHY).status_for(body, NOW) for _ in range(3)]
    assert body == before
    assert statuses[0] == statuses[1] == statuses[2]
    labels = {"resource_namespace": "ns", "resource_name": "eps", "condition": "Ready"}
    assert REGISTRY.get_sample_value("payload_operator_condition", labels) is None, "no gauge moved"


def test_transition_time_is_when_the_change_was_made_and_moves_only_on_a_flip() -> None:
    body = _body(1)
    body["status"] = StatusChange(generation=1, conditions=HEALTHY).status_for(body, NOW)
    body["status"] = StatusChange(generation=1, conditions=HEALTHY).status_for(body, LATER)
    assert _condition(body, "PolicySynced")["lastTransitionTime"] == NOW
    failed = [false(ConditionType.POLICY_SYNCED, "ServerFailure", "HTTP 503")]
    body["status"] = StatusChange(generation=1, conditions=failed).status_for(body, LATER)
    assert _condition(body, "PolicySynced")["lastTransitionTime"] == LATER
    ready = _condition(body, "Ready")
    assert (ready["status"], ready["reason"], ready["lastTransitionTime"]) == ("False", "ServerFailure", LATER)


def test_none_removes_a_field_and_observed_generation_moves_only_when_a_reconcile_completes() -> None:
    body = _body(2) | {"status": {"bucket": "old", "observedGeneration": 1}}
    body["status"] = StatusChange(generation=2, fields={"bucket": None}).status_for(body, NOW)
    assert "bucket" not in body["status"]
    assert body["status"]["observedGeneration"] == 1, "a run's bookkeeping does not claim a reconcile"
    body["status"] = StatusChange(generation=2, completes_reconcile=True).status_for(body, NOW)
    assert body["status"]["observedGeneration"] == 2


def test_a_status_the_crd_would_refuse_is_logged_once_when_queued(caplog: pytest.LogCaptureFixture) -> None:
    body = copy.deepcopy(BODY)
    change = StatusChange(generation=3, conditions=[false(ConditionType.POLICY_SYNCED, "X")], fields={"bound": {}})
    with caplog.at_level(logging.ERROR):
        apply_as_kopf(change, body)
        body["status"] = change.status_for(body, LATER)  # Kopf applying it again writes no second line
    assert caplog.text.count("does not match the CRD schema") == 1


def test_conditions_carry_the_generation_they_were_computed_for_not_the_latest() -> None:
    """The spec was edited (generation 4) while generation 3 was being reconciled: Ready must not claim 4."""
    body = _body(4)
    apply_as_kopf(StatusChange(generation=3, conditions=HEALTHY, completes_reconcile=True), body)
    assert _condition(body, "PolicySynced")["observedGeneration"] == 3
    assert _condition(body, "Ready")["observedGeneration"] == 3
    assert body["status"]["observedGeneration"] == 3

    # a later write about something else (a run finished) does not re-stamp Ready with generation 4
    apply_as_kopf(StatusChange(generation=4, conditions=[true(ConditionType.RETENTION_SUCCEEDED, "Succeeded")]), body)
    assert _condition(body, "RetentionSucceeded")["observedGeneration"] == 4
    ready = _condition(body, "Ready")
    assert (ready["status"], ready["observedGeneration"]) == ("True", 3)


def test_ready_takes_the_oldest_generation_of_its_inputs() -> None:
    body = _body(5)
    apply_as_kopf(StatusChange(generation=2, conditions=[true(ConditionType.STORAGE_REACHABLE, "Passed")]), body)
    apply_as_kopf(StatusChange(generation=5, conditions=[true(ConditionType.POLICY_SYNCED, "PolicyInSync")]), body)
    assert _condition(body, "Ready")["observedGeneration"] == 2


def test_ready_follows_the_spec_of_the_body_it_lands_on() -> None:
    """Lifecycle switched off meanwhile: a failed LifecycleSynced no longer holds Ready back."""
    lifecycle_failed = [*HEALTHY, false(ConditionType.LIFECYCLE_SYNCED, "StorageAccessDenied")]
    body = _body(1, {"lifecycle": {"enabled": True}})
    apply_as_kopf(StatusChange(generation=1, conditions=lifecycle_failed), body)
    assert _condition(body, "Ready")["reason"] == "StorageAccessDenied"
    body["spec"] = {"lifecycle": {"enabled": False}}
    apply_as_kopf(StatusChange(generation=1, conditions=HEALTHY), body)
    assert _condition(body, "Ready")["status"] == "True"
