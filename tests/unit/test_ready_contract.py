"""What Ready summarises is defined once (planning/readiness.py); the CRD, the docs and the chart's alerts and
dashboard say the same, and a change to the definition that leaves one of them behind fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from payload_operator.api.crd import crd_manifest
from payload_operator.api.status import ConditionType
from payload_operator.planning.conditions import ConditionUpdate, false, merge_conditions, true, unknown
from payload_operator.planning.readiness import READY_INPUTS, describe_ready_inputs, ready_inputs, ready_summary

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", "docs/operating.md", "docs/troubleshooting.md"]
CHART = [
    "charts/payload-operator/templates/prometheusrule.yaml",
    "charts/payload-operator/dashboards/payload-operator.json",
]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_crd_describes_ready_from_its_definition() -> None:
    schema = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    described = schema["properties"]["status"]["properties"]["conditions"]["description"]
    assert _flat(described) == describe_ready_inputs(), "edit the conditions docstring in api/status.py, then make crd"


@pytest.mark.parametrize("doc", DOCS)
def test_the_docs_describe_ready_from_its_definition(doc: str) -> None:
    sentence = describe_ready_inputs(code=lambda name: f"`{name}`")
    assert sentence in _flat((ROOT / doc).read_text()), f"{doc} must say, word for word: {sentence}"


@pytest.mark.parametrize("pattern", CHART)
def test_the_chart_watches_the_conditions_ready_summarises(pattern: str) -> None:
    """The alert and the dashboard read the inputs' series: the same set, whatever the spec."""
    text = "".join(path.read_text() for path in sorted(ROOT.glob(pattern)))
    selectors = re.findall(r'condition=~\\?"([A-Za-z|]+)\\?"', text)
    assert selectors, f"{pattern} no longer selects Ready's inputs"
    for selector in selectors:
        assert set(selector.split("|")) == {i.type.value for i in READY_INPUTS}, (pattern, selector)


@pytest.mark.parametrize(
    ("spec", "lifecycle_counts"),
    [
        ({}, False),
        ({"lifecycle": {}}, True),  # enabled by default
        ({"lifecycle": {"enabled": True, "mode": "Sweep"}}, True),
        ({"lifecycle": {"enabled": False}}, False),
        ({"lifecycle": "garbage"}, False),
        (None, False),  # a body without a spec still gets a Ready
    ],
)
def test_lifecycle_counts_only_when_set_and_enabled(spec: Any, lifecycle_counts: bool) -> None:
    kinds = ready_inputs(spec)
    assert kinds[:2] == [ConditionType.POLICY_SYNCED, ConditionType.STORAGE_REACHABLE]
    assert (ConditionType.LIFECYCLE_SYNCED in kinds) is lifecycle_counts


def _ready(*updates: ConditionUpdate, spec: Any) -> ConditionUpdate:
    return ready_summary(merge_conditions([], updates, generation=1, now="t"), ready_inputs(spec))


def test_ready_carries_the_first_input_that_does_not_hold_and_ignores_the_runs() -> None:
    lifecycle: dict[str, Any] = {"lifecycle": {}}
    policy, storage = true(ConditionType.POLICY_SYNCED, "PolicyInSync"), true(ConditionType.STORAGE_REACHABLE, "Ok")
    runs_failed = false(ConditionType.RETENTION_SUCCEEDED, "Failed")
    rules_denied = false(ConditionType.LIFECYCLE_SYNCED, "StorageAccessDenied", "403")
    assert _ready(policy, storage, runs_failed, spec={}).is_true
    waiting = _ready(policy, storage, spec=lifecycle)
    assert (waiting.status.value, waiting.reason) == ("Unknown", "Reconciling")
    denied = _ready(policy, storage, rules_denied, spec=lifecycle)
    assert (denied.status.value, denied.reason, denied.message) == (
        "False",
        "StorageAccessDenied",
        "LifecycleSynced: 403",
    )
    unchecked = unknown(ConditionType.STORAGE_REACHABLE, "ServerUnreachable")
    first = _ready(policy, unchecked, rules_denied, spec=lifecycle)
    assert (first.status.value, first.reason) == ("Unknown", "ServerUnreachable"), "the first in READY_INPUTS order"
