"""The chart's alerts and dashboard are valid PromQL over series the operator really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from devkit.procs import in_ci

from payload_operator.core import metrics
from tests.ship.chart import CHART, one, render, value_sets

DASHBOARD = CHART / "dashboards" / "payload-operator.json"
# Labels Prometheus adds to every scraped series, so selectors may use them without the operator exporting them.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}


def _promql() -> Any:
    try:
        import promql_parser
    except ImportError:
        if in_ci():
            pytest.fail("promql-parser missing: pip install promql-parser")
        pytest.skip("promql-parser missing: pip install promql-parser")
    return promql_parser


def exported() -> dict[str, set[str]]:
    """Exposed sample name -> label names, for every series of payload_operator.core.metrics."""
    series: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        name, kind, labels = (
            getattr(value, "_name", None),
            getattr(value, "_type", None),
            getattr(value, "_labelnames", None),
        )
        if not isinstance(name, str) or labels is None:
            continue
        suffixes = {
            "counter": ("_total", "_created"),
            "info": ("_info",),
            "gauge": ("",),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
        }.get(str(kind), ("",))
        for suffix in suffixes:
            extra = {"version"} if kind == "info" else {"le"} if suffix == "_bucket" else set()
            series[name + suffix] = set(labels) | extra
    return series


def selectors(expression: str) -> list[tuple[str, set[str]]]:
    """(metric name, matcher label names) of every vector selector in a PromQL expression."""
    promql = _promql()
    found: list[tuple[str, set[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql.VectorSelector):
            found.append((node.name, {m.name for m in node.matchers.matchers}))

    promql.walk(promql.parse(expression), visit)
    return found


def alert_expressions() -> dict[str, str]:
    rule = one(render(value_sets()["monitoring"]), "PrometheusRule")
    return {r["alert"]: r["expr"] for r in rule["spec"]["groups"][0]["rules"]}


def dashboard_expressions() -> dict[str, str]:
    board = json.loads(Path(DASHBOARD).read_text())
    return {f"{p['title']} [{t['refId']}]": t["expr"] for p in board["panels"] for t in p["targets"]}


def _check(expressions: dict[str, str]) -> None:
    series = exported()
    for where, expression in expressions.items():
        used = selectors(expression)
        assert used, f"{where}: reads no series"
        for name, labels in used:
            assert name in series, f"{where}: {name} is not exported by payload_operator.core.metrics"
            assert labels <= series[name] | TARGET_LABELS, f"{where}: {name} has no label(s) {labels - series[name]}"


def test_alerts_parse_and_read_exported_series() -> None:
    _check(alert_expressions())


def test_dashboard_parses_and_reads_exported_series() -> None:
    _check(dashboard_expressions())


def test_alerts_cover_integrity_retention_lifecycle_and_storage() -> None:
    used = {name for expression in alert_expressions().values() for name, _ in selectors(expression)}
    assert {
        "payload_operator_integrity_objects",
        "payload_operator_run_total",
        "payload_operator_run_last_success_timestamp_seconds",
        "payload_operator_run_expected_interval_seconds",
        "payload_operator_condition",
    } <= used


def test_every_alert_says_what_to_look_at() -> None:
    rule = one(render(value_sets()["monitoring"]), "PrometheusRule")
    for alert in rule["spec"]["groups"][0]["rules"]:
        assert alert["labels"]["severity"]
        assert alert["annotations"]["description"]
        if alert["alert"] != "PayloadOperatorDown":
            assert "{{ $labels.resource_namespace }}/{{ $labels.resource_name }}" in alert["annotations"]["summary"]


def test_resource_labels_survive_scraping() -> None:
    """Prometheus sets namespace, pod, job, ... from the target: a series exporting one of them has it renamed
    to exported_namespace (honorLabels is off), and alerts grouping by `namespace` group by the operator's pod."""
    for series, labels in exported().items():
        assert not labels & TARGET_LABELS, f"{series} exports target label(s) {labels & TARGET_LABELS}"


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_alerts_and_dashboard_group_by_the_resource_labels(source: str) -> None:
    expressions = alert_expressions() if source == "alerts" else dashboard_expressions()
    for where, expression in expressions.items():
        for grouping in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expression):
            labels = {label.strip() for label in grouping.split(",") if label.strip()}
            assert not labels & TARGET_LABELS, f"{where}: groups by target label(s) {labels & TARGET_LABELS}"


def test_an_alert_fires_when_the_operator_itself_is_gone() -> None:
    rules = {
        r["alert"]: r for r in one(render(value_sets()["monitoring"]), "PrometheusRule")["spec"]["groups"][0]["rules"]
    }
    down = rules["PayloadOperatorDown"]
    assert down["expr"].startswith("absent(payload_operator_build_info{")
    assert down["for"] == "10m"
