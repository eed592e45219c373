"""timed_pass and record_pass_errors: what the reconcile histogram and error counter record."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from payload_operator.api.status import ConditionStatus
from payload_operator.core import metrics
from payload_operator.planning.conditions import ConditionUpdate


def count(series: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(series, labels) or 0.0


def test_a_pass_is_timed_and_an_escaping_exception_is_an_error_named_by_its_type() -> None:
    before = count("payload_operator_reconcile_duration_seconds_count", **{"pass": "unit-a"})
    with metrics.timed_pass("unit-a"):
        pass
    with pytest.raises(TimeoutError), metrics.timed_pass("unit-a"):
        raise TimeoutError
    assert count("payload_operator_reconcile_duration_seconds_count", **{"pass": "unit-a"}) == before + 2
    assert count("payload_operator_reconcile_errors_total", **{"pass": "unit-a", "reason": "TimeoutError"}) == 1


def test_false_conditions_count_once_per_reason_and_true_ones_not_at_all() -> None:
    conditions = [
        ConditionUpdate("PolicySynced", ConditionStatus.FALSE, "ServerUnreachable"),
        ConditionUpdate("StorageReachable", ConditionStatus.UNKNOWN, "ServerUnreachable"),
        ConditionUpdate("LifecycleSynced", ConditionStatus.TRUE, "RulesInSync"),
    ]
    metrics.record_pass_errors("unit-b", conditions)
    assert count("payload_operator_reconcile_errors_total", **{"pass": "unit-b", "reason": "ServerUnreachable"}) == 1
    assert count("payload_operator_reconcile_errors_total", **{"pass": "unit-b", "reason": "RulesInSync"}) == 0
