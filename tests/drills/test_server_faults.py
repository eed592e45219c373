"""Drill 1: the Durable Workflow server misbehaves in the middle of a reconcile.

One resource per fault, each with its own server emulator behind its own fault proxy, all at once.
After a spec edit the proxy breaks the server in one way; the user sees PolicySynced and Ready go
False with a reason naming the fault, the operator retries on a growing backoff (counted at the
proxy: no hot loop), every Durable Workflow namespace holds either the old or the new policy in full,
and once the fault clears the resource is Ready again with the new policy written exactly once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.faultproxy import Exchange, FaultProxy
from devkit.operator_process import OperatorProcess
from devkit.values import SECRETS
from devkit.waiting import wait_for

from tests.drills.kube import apply, condition, eps, patch_spec, token_secret, wait_all
from tests.drills.leaks import assert_no_secrets, gather

NAMESPACES = ("orders", "billing")
OLD, NEW = 4096, 8192
# This drill's operator backs off from 3 s (up to 12 s), not the suite's 1 s: a pass is told from the next
# by a quiet gap, and a pass stalled for a second on a busy machine must not look like two passes.
BACKOFF_BASE = 3.0
BACKOFF_MAX = 12.0
PASS_GAP = 1.5  # requests further apart than this belong to different passes (the shortest backoff is 2.1 s)


@dataclass(frozen=True)
class Fault:
    name: str
    install: Callable[[FaultProxy], object]
    reason: str
    message: str  # a word the condition message must contain
    blocks: tuple[str, ...] = NAMESPACES  # namespaces whose new policy cannot be written during the fault
    min_gap: float = 0.7 * BACKOFF_BASE  # shortest pause between two passes (backoff jitter, Retry-After)


FAULTS = [
    Fault("unavailable", lambda p: p.status(503), "ServerFailure", "HTTP 503"),
    Fault("internal-error", lambda p: p.status(500), "ServerFailure", "HTTP 500"),
    Fault("throttled", lambda p: p.status(429, retry_after=6), "Throttled", "HTTP 429", min_gap=5.9),
    Fault("timeout", lambda p: p.delay(5.0), "ServerUnreachable", "timed out"),
    Fault("reset", lambda p: p.reset(), "ServerUnreachable", "Error"),
    Fault("dropped", lambda p: p.drop(), "ServerUnreachable", "Error"),
    Fault("truncated", lambda p: p.truncate(), "ServerUnreachable", "Error"),
    Fault("write-refused", lambda p: p.status(503, method="PUT"), "ServerFailure", "HTTP 503"),
    Fault(
        "one-write-refused",
        lambda p: p.status(503, method="PUT", path_prefix="/api/namespaces/billing/"),
        "ServerFailure",
        "billing",
        blocks=("billing",),
    ),
]


def desired(server: EmulatedServer, threshold: int) -> dict[str, Any]:
    return {
        "driver": "local",
        "enabled": True,
        "threshold_bytes": threshold,
        "config": {"uri": server.local_root.as_uri()},
    }


def passes(requests: list[Exchange]) -> list[float]:
    """Start times of the operator's passes: bursts of cluster-info reads separated by quiet gaps."""
    reads = sorted(e.arrived for e in requests if e.path == "/api/cluster/info")
    return [t for previous, t in zip([float("-inf"), *reads], reads, strict=False) if t - previous > PASS_GAP]


def whole_policies(server: EmulatedServer, fault: Fault) -> None:
    """Each namespace holds the old or the new policy in full; those the fault blocks hold the old one."""
    for namespace in NAMESPACES:
        stored = server.policy(namespace)
        assert stored in (desired(server, OLD), desired(server, NEW)), (
            f"{fault.name}: {namespace} half-written: {stored}"
        )
        if namespace in fault.blocks:
            assert stored == desired(server, OLD), f"{fault.name}: {namespace} written through the fault"


def test_server_faults_go_false_back_off_and_recover(
    drill_cluster: Cluster,
    drill_namespace: str,
    operator_with: Callable[..., OperatorProcess],
    dw_server: Callable[..., EmulatedServer],
    fault_proxy: Callable[[str], FaultProxy],
) -> None:
    operator = operator_with(
        PAYLOAD_OPERATOR_BACKOFF_BASE=str(BACKOFF_BASE), PAYLOAD_OPERATOR_BACKOFF_MAX=str(BACKOFF_MAX)
    )
    operator.start()
    servers = {f.name: dw_server(NAMESPACES) for f in FAULTS}
    proxies = {name: fault_proxy(server.url) for name, server in servers.items()}
    manifests = [
        eps(drill_namespace, name, url=proxies[name].url, local_root=servers[name].local_root) for name in servers
    ]
    apply(drill_cluster, token_secret(drill_namespace), *manifests)
    wait_all(drill_cluster, drill_namespace, servers, "Ready", "True", timeout=90)

    started = {name: len(proxy.requests.all()) for name, proxy in proxies.items()}
    for fault in FAULTS:
        fault.install(proxies[fault.name])
        patch_spec(drill_cluster, drill_namespace, fault.name, {"thresholdBytes": NEW})
    for fault in FAULTS:
        body = wait_all(drill_cluster, drill_namespace, [fault.name], "PolicySynced", "False", fault.reason, 60)
        synced = condition(body[fault.name], "PolicySynced")
        assert fault.message in synced["message"], f"{fault.name}: {synced}"
        assert condition(body[fault.name], "Ready")["status"] == "False"
        whole_policies(servers[fault.name], fault)

    # Retries go on, paced by the backoff: count the passes each proxy saw since the fault began.
    wait_for(
        lambda: all(len(passes(p.requests.all()[started[n] :])) >= 4 for n, p in proxies.items()),
        120,  # 3 + 6 + 12 s of backoff, with jitter, on a busy machine
        interval=0.5,
        message="every faulty resource retried at least four times",
    )
    for fault in FAULTS:
        seen = proxies[fault.name].requests.all()[started[fault.name] :]
        starts = passes(seen)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        span = starts[-1] - starts[0]
        assert min(gaps) >= fault.min_gap, f"{fault.name}: retries must back off, gaps {gaps}"
        assert max(gaps) >= 2.5 * BACKOFF_BASE, f"{fault.name}: the backoff must grow, gaps {gaps}"
        assert len(seen) <= 6 * (span / BACKOFF_BASE + 2), f"{fault.name}: {len(seen)} requests in {span:.1f}s"
        whole_policies(servers[fault.name], fault)

    for proxy in proxies.values():
        proxy.clear()
    bodies = wait_all(drill_cluster, drill_namespace, servers, "Ready", "True", timeout=60)
    for name, server in servers.items():
        for namespace in NAMESPACES:
            assert server.policy(namespace) == desired(server, NEW), f"{name}: {namespace} did not recover"
            writes = server.count(method="PUT", path=f"/api/namespaces/{namespace}/external-storage", status=200)
            assert writes == 2, f"{name}: {namespace} written {writes} times (want the first apply and the edit)"
        assert condition(bodies[name], "PolicySynced")["reason"] == "PolicyInSync"

    operator.assert_up()
    assert_no_secrets(gather(drill_cluster, [drill_namespace], operator.log), SECRETS)
