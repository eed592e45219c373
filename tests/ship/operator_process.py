"""Run the operator exactly as the chart's Deployment would, but as a local process on the test cluster.

The command, arguments and environment come from the rendered Deployment; only what a pod gets from the
kubelet is substituted: the ServiceAccount token (a kubeconfig for the same ServiceAccount), the pod name
(POD_ID) and free local ports for metrics, liveness and readiness.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.procs import ManagedProcess, free_ports, http_responds, wait_until_ready
from prometheus_client.parser import text_string_to_metric_families

from tests.support.operator_fixtures import OPERATOR_ENV

FAST = OPERATOR_ENV  # injected intervals (the production code path, sooner) and the suite's tenant policy
CHART_LIVENESS = "--liveness=http://0.0.0.0:8081/healthz"
CHART_READINESS = "--readiness=http://0.0.0.0:8082/readyz"


@dataclass
class OperatorProcess:
    """One running operator and its endpoints."""

    process: ManagedProcess
    metrics_url: str
    liveness_url: str

    @property
    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.stop()

    def samples(self, series: str, /, **labels: str) -> list[float]:
        """Values of the exposed samples called `series` whose labels include `labels`."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text = response.read().decode()
        return [
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == series and labels.items() <= sample.labels.items()
        ]

    def healthy(self) -> bool:
        with urllib.request.urlopen(self.liveness_url, timeout=5) as response:
            return bool(response.status == 200 and isinstance(json.loads(response.read() or b"{}"), dict))


def _argv(container: Mapping[str, Any], liveness: str, readiness: str) -> list[str]:
    """The container's command line, with local liveness and readiness addresses."""
    local = {CHART_LIVENESS: liveness, CHART_READINESS: readiness}
    if container.get("command"):
        command = [*container["command"], *container.get("args", [])]
        return [part.replace(CHART_LIVENESS, liveness).replace(CHART_READINESS, readiness) for part in command]
    return ["payload-operator", *(local.get(arg, arg) for arg in container["args"])]  # the image's ENTRYPOINT


def _environment(container: Mapping[str, Any], kubeconfig: Path, pod: str, metrics_port: int) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOAD_OPERATOR_") and k != "KUBECONFIG"}
    env = base | {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    venv_bin = str(Path(sys.executable).parent)
    return (
        env
        | FAST
        | {
            "POD_ID": pod,
            "PAYLOAD_OPERATOR_METRICS_PORT": str(metrics_port),
            "KUBECONFIG": str(kubeconfig),
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        }
    )


def start_operator(container: Mapping[str, Any], kubeconfig: Path, workdir: Path, pod: str) -> OperatorProcess:
    """Start the operator of the rendered `container`; returns once its liveness endpoint answers."""
    metrics_port, liveness_port, readiness_port = free_ports(3)
    liveness = f"http://127.0.0.1:{liveness_port}/healthz"
    argv = _argv(container, f"--liveness={liveness}", f"--readiness=http://127.0.0.1:{readiness_port}/readyz")
    if argv[0] == "payload-operator":
        argv[0] = str(Path(sys.executable).parent / "payload-operator")
    process = ManagedProcess(
        f"operator-{pod}",
        argv,
        workdir / f"operator-{pod}.log",
        env=_environment(container, kubeconfig, pod, metrics_port),
    )
    running = OperatorProcess(process, f"http://127.0.0.1:{metrics_port}/metrics", liveness)
    try:
        wait_until_ready(lambda: http_responds(liveness), timeout=60, what=f"operator {pod}", procs=[process])
    except BaseException:
        process.stop()
        raise
    return running
