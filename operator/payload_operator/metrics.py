"""Every Prometheus series of the operator, in one place.

Series are labelled by resource namespace and name (never by Durable Workflow payload or key, which
would explode cardinality). Jobs push nothing: their results reach these series through the CR status.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import Counter, Gauge, Info

from payload_operator import __version__


class _Named(Protocol):
    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...


class _Condition(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def is_true(self) -> bool: ...


BUILD = Info("payload_operator_build", "Version of the running operator.")
BUILD.info({"version": __version__})

RECONCILES = Counter(
    "payload_operator_reconcile_total",
    "Reconcile outcomes per condition type.",
    ["namespace", "name", "condition", "result", "reason"],
)
CONDITION = Gauge(
    "payload_operator_condition",
    "1 when the condition is True, 0 otherwise.",
    ["namespace", "name", "condition"],
)
DRIFT_REPAIRS = Counter(
    "payload_operator_drift_repairs_total",
    "Server policies changed behind the operator's back and put back.",
    ["namespace", "name"],
)


def record_condition(resource: _Named, condition: _Condition) -> None:
    """Count a reconcile outcome and expose the condition's current truth."""
    result = "true" if condition.is_true else "false"
    RECONCILES.labels(resource.namespace, resource.name, condition.type, result, condition.reason).inc()
    CONDITION.labels(resource.namespace, resource.name, condition.type).set(1 if condition.is_true else 0)


def forget(namespace: str, name: str) -> None:
    """Drop the per-resource gauges of a deleted resource."""
    for metric in (CONDITION,):
        for labels in list(metric._metrics):
            if labels[:2] == (namespace, name):
                metric.remove(*labels)
