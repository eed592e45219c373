"""What the node tests read from the cluster: pods, Jobs, Events, logs and metrics of real pods."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime
from typing import Any

from devkit.cluster import Cluster

GROUP = "payloads.durable-workflow.io"


def pods(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.api("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")[
        "items"
    ]
    return items


def jobs(cluster: Cluster, namespace: str, resource: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The Jobs of one resource (of one run kind), by name."""
    selector = f"{GROUP}/resource={resource}" + (f",{GROUP}/run-kind={kind}" if kind else "")
    items = cluster.api("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs?labelSelector={selector}")["items"]
    return sorted(items, key=lambda job: job["metadata"]["name"])


def run_pods(cluster: Cluster, namespace: str, run_id: str, kind: str) -> list[dict[str, Any]]:
    """The pods of one run's Jobs."""
    return pods(cluster, namespace, f"{GROUP}/run-id={run_id},{GROUP}/run-kind={kind}")


def events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    items = cluster.api("GET", f"/api/v1/namespaces/{namespace}/events")["items"]
    return [e for e in items if e.get("involvedObject", {}).get("name") == name]


def event_messages(cluster: Cluster, namespace: str, name: str, reason: str) -> list[str]:
    return [str(e.get("message")) for e in events(cluster, namespace, name) if e.get("reason") == reason]


def kube_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def exec_in(cluster: Cluster, namespace: str, pod: str, *argv: str) -> tuple[int, str]:
    """`kubectl exec` in the pod's first container: (exit code, stdout + stderr)."""
    proc = cluster.kubectl("exec", "-n", namespace, pod, "--", *argv, check=False, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def logs(cluster: Cluster, namespace: str, pod: str, *, previous: bool = False) -> str:
    args = ["logs", "-n", namespace, pod] + (["--previous"] if previous else [])
    return cluster.kubectl(*args, timeout=60).stdout


def metrics(pod: dict[str, Any], port: int = 8080) -> str:
    """The pod's /metrics, fetched from the node over the pod network (as Prometheus would)."""
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:{port}/metrics", timeout=10) as resp:
        text: str = resp.read().decode()
    return text


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first series `name{labels...}` (label subset match) in Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line parsed as one JSON object (raises on a line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
