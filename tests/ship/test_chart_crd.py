"""The chart's CRD template is the generated CRD, with CEL only where the cluster understands it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.ship.chart import CRD_FILE, one, render, sync_chart_crd

CEL = "x-kubernetes-validations"


def _committed_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    return crd


def _without_cel(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_cel(item) for item in node]
    if isinstance(node, dict):
        return {k: _without_cel(v) for k, v in node.items() if k != CEL}
    return node


def _cel_blocks(node: Any) -> list[Any]:
    if isinstance(node, list):
        return [block for item in node for block in _cel_blocks(item)]
    if isinstance(node, dict):
        own = [node[CEL]] if CEL in node else []
        return own + [block for k, v in node.items() if k != CEL for block in _cel_blocks(v)]
    return []


def _rendered_crd(kube_version: str) -> dict[str, Any]:
    return one(render({}, kube_version=kube_version), "CustomResourceDefinition")


def test_template_is_regenerated_from_the_committed_crd() -> None:
    assert sync_chart_crd.TARGET.read_text() == sync_chart_crd.render(), "run scripts/sync-chart-crd.py"


def test_rendered_spec_equals_the_committed_crd_on_a_current_cluster() -> None:
    rendered, committed = _rendered_crd("v1.33.0"), _committed_crd()
    assert rendered["spec"] == committed["spec"]
    assert rendered["metadata"]["name"] == committed["metadata"]["name"]
    assert committed["metadata"]["labels"].items() <= rendered["metadata"]["labels"].items()


def test_old_clusters_get_the_same_crd_without_cel() -> None:
    rendered = _rendered_crd("v1.20.2")
    assert rendered["spec"] == _without_cel(_committed_crd()["spec"])
    assert _cel_blocks(rendered) == []


@pytest.mark.parametrize("kube_version", ["v1.25.0", "v1.27.9"])
def test_clusters_before_1_28_get_cel_rules_without_the_newer_rule_fields(kube_version: str) -> None:
    rendered, committed = _rendered_crd(kube_version), _committed_crd()
    expected = copy.deepcopy(committed["spec"])
    got = _cel_blocks(rendered["spec"])
    assert got
    assert got == [
        [{k: v for k, v in rule.items() if k in ("rule", "message")} for rule in block]
        for block in _cel_blocks(expected)
    ]
    assert _without_cel(rendered["spec"]) == _without_cel(expected)


def test_managed_kubernetes_version_strings_count_as_their_release() -> None:
    """EKS/GKE report versions like v1.29.3-eks-adc7111 (a semver pre-release): CEL must still render."""
    assert _cel_blocks(_rendered_crd("v1.29.3-eks-adc7111")) == _cel_blocks(_committed_crd())
