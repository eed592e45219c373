"""The reconcile series a platform team graphs and alerts on: how long passes take, and why they fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devkit.cluster import Cluster
from devkit.waiting import wait_for
from prometheus_client import REGISTRY

from tests.e2e.conftest import wait_condition

Deploy = Callable[..., dict[str, Any]]


def sample(series: str, **labels: str) -> float:
    """The operator's series as its /metrics shows it (the session operator runs in this process)."""
    return REGISTRY.get_sample_value(series, labels) or 0.0


def test_passes_are_timed_and_failures_counted_by_reason(deploy: Deploy, crd: Cluster, kube_namespace: str) -> None:
    policy_passes = sample("payload_operator_reconcile_duration_seconds_count", **{"pass": "policy"})
    unauthorized = sample("payload_operator_reconcile_errors_total", **{"pass": "policy", "reason": "Unauthorized"})
    deploy("metered", token="not-the-token")
    wait_condition(crd, kube_namespace, "metered", "PolicySynced", "False", "Unauthorized")
    wait_for(
        lambda: (
            sample("payload_operator_reconcile_errors_total", **{"pass": "policy", "reason": "Unauthorized"})
            > unauthorized
        ),
        30,
        message="the failed pass counted under its reason",
    )
    assert sample("payload_operator_reconcile_duration_seconds_count", **{"pass": "policy"}) > policy_passes
    assert sample("payload_operator_reconcile_duration_seconds_sum", **{"pass": "policy"}) > 0
