"""The run, integrity and lifecycle series the alerts read: how the recording helpers move them."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY

from payload_operator.core import metrics


@dataclass(frozen=True)
class Named:
    namespace: str
    name: str


def value(series: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(series, labels)


def test_runs_count_by_result_and_only_success_moves_the_timestamp() -> None:
    resource = Named("ns-runs", "store")
    labels = {"resource_namespace": "ns-runs", "resource_name": "store", "kind": "retention"}
    metrics.record_run(resource, "retention", "Failed", finished_at=1000.0)
    assert value("payload_operator_run_total", **labels, result="Failed") == 1.0
    assert value("payload_operator_run_last_success_timestamp_seconds", **labels) is None
    metrics.record_run(resource, "retention", "Succeeded", finished_at=2000.0)
    metrics.record_run(resource, "retention", "PartiallyFailed", finished_at=3000.0)
    assert value("payload_operator_run_total", **labels, result="Succeeded") == 1.0
    assert value("payload_operator_run_last_success_timestamp_seconds", **labels) == 2000.0


def test_last_success_can_be_restored_after_a_restart() -> None:
    resource = Named("ns-restore", "store")
    metrics.record_last_success(resource, "integrity", 1234.0)
    labels = {"resource_namespace": "ns-restore", "resource_name": "store", "kind": "integrity"}
    assert value("payload_operator_run_last_success_timestamp_seconds", **labels) == 1234.0


def test_expected_interval_follows_the_schedule_and_goes_away_when_unscheduled() -> None:
    resource = Named("ns-sched", "store")
    labels = {"resource_namespace": "ns-sched", "resource_name": "store", "kind": "retention"}
    metrics.record_schedule(resource, "retention", 86400.0)
    assert value("payload_operator_run_expected_interval_seconds", **labels) == 86400.0
    metrics.record_schedule(resource, "retention", None)
    assert value("payload_operator_run_expected_interval_seconds", **labels) is None
    metrics.record_schedule(resource, "retention", None)  # idempotent


def test_integrity_objects_and_lifecycle_rules_are_gauges_per_result_and_ownership() -> None:
    resource = Named("ns-gauges", "store")
    metrics.record_integrity_objects(resource, {"ok": 98, "missing": 1, "corrupt": 1, "unreadable": 0})
    metrics.record_integrity_objects(resource, {"ok": 100, "missing": 0, "corrupt": 0, "unreadable": 0})
    base = {"resource_namespace": "ns-gauges", "resource_name": "store"}
    assert value("payload_operator_integrity_objects", **base, result="ok") == 100.0
    assert value("payload_operator_integrity_objects", **base, result="corrupt") == 0.0
    metrics.record_lifecycle_rules(resource, owned=1, foreign=4)
    assert value("payload_operator_lifecycle_rules", **base, ownership="owned") == 1.0
    assert value("payload_operator_lifecycle_rules", **base, ownership="foreign") == 4.0


def test_forget_drops_every_per_resource_gauge_but_keeps_counters() -> None:
    resource, other = Named("ns-forget", "gone"), Named("ns-forget", "kept")
    for each in (resource, other):
        metrics.record_run(each, "integrity", "Succeeded", finished_at=10.0)
        metrics.record_schedule(each, "integrity", 3600.0)
        metrics.record_integrity_objects(each, {"ok": 1})
        metrics.record_lifecycle_rules(each, owned=1, foreign=0)
    metrics.forget("ns-forget", "gone")
    gone = {"resource_namespace": "ns-forget", "resource_name": "gone"}
    kept = {"resource_namespace": "ns-forget", "resource_name": "kept"}
    for series, extra in (
        ("payload_operator_run_last_success_timestamp_seconds", {"kind": "integrity"}),
        ("payload_operator_run_expected_interval_seconds", {"kind": "integrity"}),
        ("payload_operator_integrity_objects", {"result": "ok"}),
        ("payload_operator_lifecycle_rules", {"ownership": "owned"}),
    ):
        assert value(series, **gone, **extra) is None, series
        assert value(series, **kept, **extra) is not None, series
    assert value("payload_operator_run_total", **gone, kind="integrity", result="Succeeded") == 1.0
