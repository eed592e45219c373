"""Run the operator exactly as the chart's Deployment would, but as a local process on the test cluster.

The command, arguments and environment come from the rendered Deployment; only what a pod gets from the
kubelet is substituted: the ServiceAccount token (a kubeconfig for the same ServiceAccount), the pod name
(POD_ID) and free local ports for metrics, liveness and readiness.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devkit.operator_process import OperatorProcess

__all__ = ["OperatorProcess", "start_operator"]

CHART_LIVENESS = "--liveness=http://0.0.0.0:8081/healthz"
CHART_READINESS = "--readiness=http://0.0.0.0:8082/readyz"


def _argv(container: Mapping[str, Any], liveness: str, readiness: str) -> list[str]:
    """The container's command line, with local liveness and readiness addresses."""
    local = {CHART_LIVENESS: liveness, CHART_READINESS: readiness}
    if container.get("command"):
        command = [*container["command"], *container.get("args", [])]
        return [part.replace(CHART_LIVENESS, liveness).replace(CHART_READINESS, readiness) for part in command]
    return ["payload-operator", *(local.get(arg, arg) for arg in container["args"])]  # the image's ENTRYPOINT


def _underlay(container: Mapping[str, Any], pod: str) -> dict[str, str]:
    """The pod's environment as the chart renders it, and what the kubelet adds (the pod name, PATH)."""
    env = {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    venv_bin = str(Path(sys.executable).parent)
    return env | {"POD_ID": pod, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}"}


def start_operator(container: Mapping[str, Any], kubeconfig: Path, workdir: Path, pod: str) -> OperatorProcess:
    """Start the operator of the rendered `container`; returns once its liveness endpoint answers."""

    def command(liveness: str, readiness: str) -> list[str]:
        argv = _argv(container, f"--liveness={liveness}", f"--readiness={readiness}")
        if argv[0] == "payload-operator":
            argv[0] = str(Path(sys.executable).parent / "payload-operator")
        return argv

    operator = OperatorProcess(kubeconfig, workdir, command=command, underlay=_underlay(container, pod), name=pod)
    operator.start()
    return operator
