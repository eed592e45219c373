"""The chart as tests use it: the render wrapper (scripts/render-chart.py), value sets, and Helm actions.

Rendering goes through the same wrapper a user runs, so `helm template` output in tests is the output users
get. Installs use Helm's own library (helm-python-sdk) against the test cluster, exactly like `helm install`.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import helm_python
from devkit.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "payload-operator"
CRD_FILE = REPO / "crds" / "externalpayloadstorages.yaml"
CRD_NAME = "externalpayloadstorages.payloads.durable-workflow.io"
OLD_KUBE = "v1.20.2"  # the test API server; also the oldest version the chart supports
NEW_KUBE = "v1.33.0"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


render_chart = _load("render_chart", REPO / "scripts" / "render-chart.py")
sync_chart_crd = _load("sync_chart_crd", REPO / "scripts" / "sync-chart-crd.py")
Manifest = render_chart.Manifest


def value_sets(watched: str = "apps") -> dict[str, dict[str, Any]]:
    """The configurations the chart is tested with; `watched` is the namespace the namespaced set watches."""
    return {
        "default": {},
        "namespaced": {
            "rbac": {"scope": "namespace", "secretNames": ["dw-admin"]},
            "watchNamespaces": [watched],
        },
        "peering": {"replicas": 2},
        "monitoring": {
            "metrics": {
                "serviceMonitor": {"enabled": True},
                "prometheusRule": {"enabled": True},
                "dashboard": {"enabled": True},
            }
        },
        "no-crds": {"crds": {"install": False}},
        "locked-down": {
            "networkPolicy": {"enabled": True, "metricsFrom": [{"namespaceSelector": {}}]},
            "runner": {"namespaces": [watched]},
            "secrets": {"pinned": [f"{watched}/dw-admin"]},
        },
        "day-two": {
            "replicas": 2,
            "imagePullSecrets": [{"name": "regcred"}],
            "podDisruptionBudget": {"enabled": True},
            "topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
            ],
            "runner": {
                "namespaces": [watched],
                "nodeSelector": {"payloads.example.com/storage-side": "true"},
                "tolerations": [{"key": "storage", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [PREFERRED_ZONE]}},
                "imagePullSecrets": [{"name": "regcred"}],
                "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
            },
            "metrics": {"prometheusRule": {"enabled": True, "additionalRules": [EXTRA_ALERT]}},
        },
    }


PREFERRED_ZONE = {
    "weight": 1,
    "preference": {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]},
}
EXTRA_ALERT = {
    "alert": "PayloadRunsSlow",
    "expr": "sum by (resource_namespace, resource_name) (payload_operator_run_total) > 100",
    "for": "1h",
    "labels": {"severity": "info"},
    "annotations": {"summary": "Many runs ({{ $labels.resource_namespace }}/{{ $labels.resource_name }})"},
}


VALUE_SET_NAMES = tuple(value_sets())


def render(
    values: Mapping[str, Any] | None = None,
    *,
    kube_version: str = NEW_KUBE,
    name: str = "payload-operator",
    namespace: str = "payload-system",
    chart: Path = CHART,
) -> list[Any]:
    """The documents `helm template` prints for these values."""
    docs: list[Any] = render_chart.render(
        values, chart=chart, name=name, namespace=namespace, kube_version=kube_version
    )
    return docs


def find(docs: Sequence[Any], kind: str, name: str | None = None, namespace: str | None = None) -> list[Any]:
    """Documents of a kind (and name/namespace, when given)."""
    return [
        d
        for d in docs
        if d.kind == kind and (name is None or d.name == name) and (namespace is None or d.namespace == namespace)
    ]


def one(docs: Sequence[Any], kind: str, name: str | None = None, namespace: str | None = None) -> dict[str, Any]:
    """The body of the single document of a kind."""
    found = find(docs, kind, name, namespace)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[d.name for d in found]}"
    body: dict[str, Any] = found[0].body
    return body


def operator_container(docs: Sequence[Any]) -> dict[str, Any]:
    """The operator container of the rendered Deployment."""
    container: dict[str, Any] = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return container


@contextmanager
def helm_config(cluster: Cluster, namespace: str) -> Iterator[Any]:
    """Helm's action configuration for the test cluster."""
    with helm_python.Config(kubeconfig_path=str(cluster.kubeconfig), namespace=namespace) as config:
        yield config


def install(
    cluster: Cluster, release: str, namespace: str, values: Mapping[str, Any], *, chart: Path = CHART
) -> dict[str, Any]:
    """`helm install` (no wait: this API server has no kubelet, pods never start)."""
    with helm_config(cluster, namespace) as config:
        result: dict[str, Any] = config.install(str(chart), release, dict(values), namespace=namespace, timeout=120)
    return result


def upgrade(
    cluster: Cluster, release: str, namespace: str, values: Mapping[str, Any], *, chart: Path = CHART
) -> dict[str, Any]:
    """`helm upgrade`."""
    with helm_config(cluster, namespace) as config:
        result: dict[str, Any] = config.upgrade(str(chart), release, dict(values), namespace=namespace, timeout=120)
    return result


def uninstall(cluster: Cluster, release: str, namespace: str) -> None:
    """`helm uninstall`, tolerating a release that is already gone."""
    with helm_config(cluster, namespace) as config:
        config.uninstall(release, ignore_not_found=True, timeout=120)
