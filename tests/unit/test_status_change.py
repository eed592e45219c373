"""Status changes produce a status the CRD accepts, and re-applying one changes nothing."""

from __future__ import annotations

import copy
import logging

import pytest

from payload_operator.api.status import ConditionType, ExternalPayloadStorageStatus
from payload_operator.planning.conditions import false, true
from payload_operator.reconcile.status import StatusChange

BODY = {"metadata": {"namespace": "ns", "name": "eps", "generation": 3}, "spec": {"lifecycle": {"enabled": True}}}


def test_applied_status_matches_the_schema_and_is_idempotent() -> None:
    change = StatusChange(
        [true(ConditionType.POLICY_SYNCED, "PolicyInSync", "ok"), true(ConditionType.STORAGE_REACHABLE, "Passed")],
        {"bucket": "b", "bound": {"driver": "s3", "bucket": "b"}},
        observed_generation=3,
    )
    body = copy.deepcopy(BODY)
    change.apply(body)
    ExternalPayloadStorageStatus.model_validate(body["status"])
    once = copy.deepcopy(body)
    change.apply(body)
    assert body == once, "a repeated change must not produce a write"
    ready = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "Reconciling"), "LifecycleSynced not evaluated yet"


def test_a_status_the_crd_would_refuse_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    body = copy.deepcopy(BODY)
    with caplog.at_level(logging.ERROR):
        StatusChange([false(ConditionType.POLICY_SYNCED, "X")], {"bound": {"driver": "s3"}}).apply(body)
    assert "does not match the CRD schema" in caplog.text


def _condition(body: dict[str, object], kind: str) -> dict[str, object]:
    status = body["status"]
    assert isinstance(status, dict)
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_conditions_carry_the_generation_they_were_computed_for_not_the_latest() -> None:
    """The spec was edited (generation 4) while generation 3 was being reconciled: Ready must not claim 4."""
    computed_for_3 = StatusChange(
        [true(ConditionType.POLICY_SYNCED, "PolicyInSync"), true(ConditionType.STORAGE_REACHABLE, "Passed")],
        observed_generation=3,
    )
    body = copy.deepcopy(BODY) | {"metadata": {"namespace": "ns", "name": "eps", "generation": 4}, "spec": {}}
    computed_for_3.apply(body)
    assert _condition(body, "PolicySynced")["observedGeneration"] == 3
    assert _condition(body, "Ready")["observedGeneration"] == 3
    assert body["status"]["observedGeneration"] == 3

    # a later write about something else (a run finished) does not re-stamp Ready with generation 4
    StatusChange([true(ConditionType.RETENTION_SUCCEEDED, "Succeeded")], generation=4).apply(body)
    assert _condition(body, "RetentionSucceeded")["observedGeneration"] == 4
    ready = _condition(body, "Ready")
    assert (ready["status"], ready["observedGeneration"]) == ("True", 3)


def test_ready_takes_the_oldest_generation_of_its_inputs() -> None:
    body = copy.deepcopy(BODY) | {"metadata": {"namespace": "ns", "name": "eps", "generation": 5}, "spec": {}}
    StatusChange([true(ConditionType.STORAGE_REACHABLE, "Passed")], generation=2).apply(body)
    StatusChange([true(ConditionType.POLICY_SYNCED, "PolicyInSync")], generation=5).apply(body)
    assert _condition(body, "Ready")["observedGeneration"] == 2
