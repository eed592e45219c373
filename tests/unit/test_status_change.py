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
