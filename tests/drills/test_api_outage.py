"""Drill: the Kubernetes API path cut under a running operator; readiness must say so, liveness must not.

The operator runs as a real process whose kubeconfig points at a TCP fault proxy in front of the real
kube-apiserver. Cutting the path (new connections refused, open ones and Kopf's watch streams closed) must
make /readyz answer 503 within a deadline while Kopf's /healthz keeps answering 200 and the process keeps
running (a restart would not bring the API back); restoring the path must make it ready again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import yaml
from devkit.cluster import Cluster
from devkit.faultproxy import FaultProxy
from devkit.operator_process import OperatorProcess
from devkit.waiting import wait_for

MAX_AGE = 3.0  # PAYLOAD_OPERATOR_API_CONTACT_MAX_AGE: the API is checked every second
OUTAGE = 90.0  # longer than Kopf's default API retries (54 s), after which it would stop the operator
DEADLINE = 60.0


def kubeconfig_through(cluster: Cluster, proxy: FaultProxy, path: Path) -> Path:
    """The cluster's kubeconfig with its server replaced by the proxy (the certificate names 127.0.0.1)."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def test_readiness_follows_the_api_path_and_liveness_stays(
    drill_cluster: Cluster, operator_with: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    with FaultProxy(drill_cluster.server, mode="tcp") as proxy:
        operator = operator_with(PAYLOAD_OPERATOR_API_CONTACT_MAX_AGE=str(MAX_AGE))
        operator.kubeconfig = kubeconfig_through(drill_cluster, proxy, tmp_path / "through-proxy.yaml")
        operator.start()
        wait_for(lambda: operator.readiness() == 200, DEADLINE, message="ready while the API answers")

        proxy.refuse = True
        proxy.sever()
        cut = time.monotonic()
        liveness: list[bool] = []

        def not_ready() -> bool:
            liveness.append(operator.healthy())
            return operator.readiness() == 503

        def outage_over() -> bool:
            liveness.append(operator.healthy())
            return time.monotonic() - cut > OUTAGE

        wait_for(not_ready, DEADLINE, interval=0.5, message="not ready once the API path is cut")
        flipped = time.monotonic() - cut
        wait_for(outage_over, OUTAGE + DEADLINE, interval=1.0)
        assert all(liveness), f"liveness failed during the outage ({liveness.count(False)} of {len(liveness)})"
        assert operator.readiness() == 503, "still not ready at the end of the outage"
        assert operator.alive(), f"the operator exited during the outage:\n{operator.log[-4000:]}"

        proxy.refuse = False
        restored = time.monotonic()
        wait_for(lambda: operator.readiness() == 200, DEADLINE, message="ready again once the API path is back")
        recovered = time.monotonic() - restored
        operator.assert_up()
        print(f"\nreadiness: not ready {flipped:.1f} s after the cut, ready {recovered:.1f} s after the restore")
