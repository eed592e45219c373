"""Running `kubectl eps` as a user does: kubectl itself finds the plugin on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devkit.cluster import Cluster

PLUGIN_DIR = Path(sys.executable).parent  # where the console script kubectl-eps is installed


def kubectl_eps(cluster: Cluster, *args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`kubectl eps ...` on `cluster` (its KUBECONFIG, or `kubeconfig`), with the cluster's own kubectl."""
    env = cluster.env() | {"PATH": f"{PLUGIN_DIR}{os.pathsep}{os.environ['PATH']}", "KUBECTL": cluster.kubectl_bin}
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [cluster.kubectl_bin, "eps", *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
