"""Every Prometheus series of the operator, in one place.

Series are labelled by the resource's namespace and name (never by Durable Workflow payload or key, which
would explode cardinality), as `resource_namespace` and `resource_name`: Prometheus sets `namespace` (and
`pod`, `job`, ...) on every scraped series from the target, and would rename ours to `exported_namespace`.
Jobs push nothing: their results reach these series through the CR status.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram, Info

from payload_operator import __version__
from payload_operator.api.results import GIB, StorageUsage, UsageClass


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


RESOURCE_LABELS = ("resource_namespace", "resource_name")

BUILD = Info("payload_operator_build", "Version of the running operator.")
BUILD.info({"version": __version__})

RECONCILES = Counter(
    "payload_operator_reconcile_total",
    "Reconcile outcomes per condition type.",
    [*RESOURCE_LABELS, "condition", "result", "reason"],
)
PASS_DURATION = Histogram(
    "payload_operator_reconcile_duration_seconds",
    "Time one pass took, by pass: policy (server policy and published objects), sweep (tmp expiry), runs "
    "(scheduling and collecting retention and integrity), deletion. Operator-wide: per-resource buckets would "
    "multiply the series by the fleet.",
    ["pass"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
PROVIDER_CLIENTS_BUILT = Counter(
    "payload_operator_provider_clients_built_total",
    "Storage provider clients built, by provider (s3, gcs, azure, arm). Clients are shared per endpoint and "
    "credentials, so a settled fleet builds none; a steady rise means more distinct endpoints and credentials "
    "than the client caches hold.",
    ["provider"],
)
WORK_IN_FLIGHT = Gauge(
    "payload_operator_work_in_flight",
    "Slots in use, by pool: reconcile (handler passes and timer ticks, config.maxReconcileWorkers) and "
    "in_process_shards (scheduled run shards in the operator's process, config.maxInProcessShards).",
    ["pool"],
)
WORK_WAITING = Gauge(
    "payload_operator_work_waiting",
    "Work waiting for a slot, by pool: a long queue under a run storm shows where the limits bind.",
    ["pool"],
)
WORK_LIMIT = Gauge("payload_operator_work_limit", "Slots per pool (the configured limit).", ["pool"])
PASS_ERRORS = Counter(
    "payload_operator_reconcile_errors_total",
    "Passes that concluded a False condition (by its reason) or raised (by the exception's type).",
    ["pass", "reason"],
)
CONDITION = Gauge(
    "payload_operator_condition",
    "1 when the condition is True, 0 otherwise.",
    [*RESOURCE_LABELS, "condition"],
)
DRIFT_REPAIRS = Counter(
    "payload_operator_drift_repairs_total",
    "Server policies changed behind the operator's back and put back.",
    [*RESOURCE_LABELS],
)
RUNS = Counter(
    "payload_operator_run_total",
    "Finished retention and integrity runs by result (Succeeded, PartiallyFailed, Failed).",
    [*RESOURCE_LABELS, "kind", "result"],
)
RUN_LAST_SUCCESS = Gauge(
    "payload_operator_run_last_success_timestamp_seconds",
    "Unix time the last successful run of this kind finished.",
    [*RESOURCE_LABELS, "kind"],
)
RUN_EXPECTED_INTERVAL = Gauge(
    "payload_operator_run_expected_interval_seconds",
    "Seconds between two scheduled runs of this kind, from the schedule (alerts compare against it).",
    [*RESOURCE_LABELS, "kind"],
)
INTEGRITY_OBJECTS = Gauge(
    "payload_operator_integrity_objects",
    "Objects of the last integrity run by result (ok, missing, corrupt, unreadable).",
    [*RESOURCE_LABELS, "result"],
)
STORAGE_USAGE_BYTES = Gauge(
    "payload_operator_storage_usage_bytes",
    "Bytes the payload storage holds by class (referenced, young, candidate, foreign, temporary, quarantined),"
    " as the last retention run listed them.",
    [*RESOURCE_LABELS, "class"],
)
STORAGE_USAGE_OBJECTS = Gauge(
    "payload_operator_storage_usage_objects",
    "Objects the payload storage holds by class, as the last retention run listed them.",
    [*RESOURCE_LABELS, "class"],
)
STORAGE_MONTHLY_COST = Gauge(
    "payload_operator_storage_monthly_cost_estimate",
    "Estimated monthly cost of each class's bytes at the operator's usage.pricePerGiBMonth (absent without one).",
    [*RESOURCE_LABELS, "class"],
)
LIFECYCLE_RULES = Gauge(
    "payload_operator_lifecycle_rules",
    "Bucket lifecycle rules by ownership: owned by this resource, or foreign and left as they were.",
    [*RESOURCE_LABELS, "ownership"],
)

# Per-resource gauges: dropped when the resource is deleted (counters keep their history).
_PER_RESOURCE_GAUGES = (
    CONDITION,
    RUN_LAST_SUCCESS,
    RUN_EXPECTED_INTERVAL,
    INTEGRITY_OBJECTS,
    LIFECYCLE_RULES,
    STORAGE_USAGE_BYTES,
    STORAGE_USAGE_OBJECTS,
    STORAGE_MONTHLY_COST,
)


def record_condition(resource: _Named, condition: _Condition) -> None:
    """Count a reconcile outcome and expose the condition's current truth."""
    result = "true" if condition.is_true else "false"
    RECONCILES.labels(resource.namespace, resource.name, condition.type, result, condition.reason).inc()
    CONDITION.labels(resource.namespace, resource.name, condition.type).set(1 if condition.is_true else 0)


def record_ready(namespace: str, name: str, ready: bool) -> None:
    """The Ready summary as a gauge, so one alert covers every reason a resource is not ready."""
    CONDITION.labels(namespace, name, "Ready").set(1 if ready else 0)


def record_run(resource: _Named, kind: str, result: str, finished_at: float) -> None:
    """Count a finished run; a Succeeded one also moves the last-success timestamp (Unix seconds)."""
    RUNS.labels(resource.namespace, resource.name, kind, result).inc()
    if result == "Succeeded":
        RUN_LAST_SUCCESS.labels(resource.namespace, resource.name, kind).set(finished_at)


def record_last_success(resource: _Named, kind: str, finished_at: float) -> None:
    """Restore the last-success timestamp, e.g. from status after a restart (gauges start empty)."""
    RUN_LAST_SUCCESS.labels(resource.namespace, resource.name, kind).set(finished_at)


def record_schedule(resource: _Named, kind: str, interval_seconds: float | None) -> None:
    """Publish the expected interval between runs of a kind; None (suspended, unscheduled) removes it."""
    labels = (resource.namespace, resource.name, kind)
    if interval_seconds is None:
        if labels in RUN_EXPECTED_INTERVAL._metrics:
            RUN_EXPECTED_INTERVAL.remove(*labels)
        return
    RUN_EXPECTED_INTERVAL.labels(*labels).set(interval_seconds)


def record_integrity_objects(resource: _Named, counts: Mapping[str, int]) -> None:
    """The per-result object counts of the last integrity run (ok, missing, corrupt, unreadable)."""
    for result, count in counts.items():
        INTEGRITY_OBJECTS.labels(resource.namespace, resource.name, result).set(count)


def record_usage(resource: _Named, usage: StorageUsage) -> None:
    """Storage usage by class from the last retention run; a class it did not measure (or price) is removed."""
    figures = usage.figures()
    price = usage.price_per_gib_month
    for usage_class in UsageClass:
        labels = (resource.namespace, resource.name, usage_class.value)
        figure = figures.get(usage_class)
        _set_or_remove(STORAGE_USAGE_BYTES, labels, None if figure is None else figure.bytes)
        _set_or_remove(STORAGE_USAGE_OBJECTS, labels, None if figure is None else figure.objects)
        cost = None if figure is None or price is None else figure.bytes / GIB * price
        _set_or_remove(STORAGE_MONTHLY_COST, labels, cost)


def _set_or_remove(gauge: Gauge, labels: tuple[str, ...], value: float | None) -> None:
    if value is not None:
        gauge.labels(*labels).set(value)
    elif labels in gauge._metrics:
        gauge.remove(*labels)


def record_lifecycle_rules(resource: _Named, owned: int, foreign: int) -> None:
    """How many bucket lifecycle rules this resource owns, and how many foreign ones it preserved."""
    LIFECYCLE_RULES.labels(resource.namespace, resource.name, "owned").set(owned)
    LIFECYCLE_RULES.labels(resource.namespace, resource.name, "foreign").set(foreign)


def forget(namespace: str, name: str) -> None:
    """Drop the per-resource gauges of a deleted resource."""
    for metric in _PER_RESOURCE_GAUGES:
        for labels in list(metric._metrics):
            if labels[:2] == (namespace, name):
                metric.remove(*labels)


@contextlib.contextmanager
def timed_pass(name: str) -> Iterator[None]:
    """Observe how long a pass took; an exception escaping it counts as an error named by its type."""
    started = time.monotonic()
    try:
        yield
    except Exception as exc:
        PASS_ERRORS.labels(name, type(exc).__name__).inc()
        raise
    finally:
        PASS_DURATION.labels(name).observe(time.monotonic() - started)


def record_pass_errors(name: str, conditions: Iterable[_Condition]) -> None:
    """Count a pass once per reason of the False conditions it concluded."""
    for reason in sorted({c.reason for c in conditions if not c.is_true}):
        PASS_ERRORS.labels(name, reason).inc()
