"""The operator's concurrency settings act: what a platform team sets bounds the load on its servers.

Three resources point at one Durable Workflow server through the fault proxy, which holds every request
for a moment and records when each arrived and finished. With `maxReconcileWorkers: 1` and
`namespaceSyncConcurrency: 1` the server never sees two requests at once; with the limits raised, the same
fleet does overlap (so the first assertion is the limits' doing, not the fleet's).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.faultproxy import Exchange, FaultProxy
from devkit.operator_process import OperatorProcess

from tests.drills.kube import apply, eps, token_secret, wait_all

NAMESPACES = ("orders", "billing", "audit")
RESOURCES = ("alpha", "beta", "gamma")
HOLD = 0.2  # seconds the proxy holds each request, so overlapping requests really overlap


def most_in_flight(exchanges: list[Exchange]) -> int:
    """The largest number of requests the server was answering at the same moment."""
    edges = sorted(
        [(e.arrived, 1) for e in exchanges if e.finished is not None]
        + [(e.finished, -1) for e in exchanges if e.finished is not None],
        key=lambda edge: (edge[0], edge[1]),  # a request that ends frees its slot before one that starts
    )
    in_flight = peak = 0
    for _, step in edges:
        in_flight += step
        peak = max(peak, in_flight)
    return peak


def run_fleet(
    cluster: Cluster,
    namespace: str,
    server: EmulatedServer,
    proxy: FaultProxy,
    operator: OperatorProcess,
) -> list[Exchange]:
    """Apply the fleet, wait until all of it is Ready, return what the server saw."""
    proxy.delay(HOLD)
    apply(cluster, token_secret(namespace))
    for name in RESOURCES:
        apply(cluster, eps(namespace, name, url=proxy.url, dw_namespaces=NAMESPACES, local_root=server.local_root))
    operator.start()
    wait_all(cluster, namespace, RESOURCES, "Ready", "True", timeout=180)
    return [e for e in proxy.requests.all() if e.finished is not None]


@pytest.mark.parametrize(
    ("limit", "overlap"),
    [
        (1, False),  # one resource at a time, one namespace at a time: the server never has two requests
        (3, True),  # raised: one resource's three namespaces start together, so those overlap whatever the timing
    ],
    ids=["limits-at-1-serialise", "raised-limits-overlap"],
)
def test_reconcile_and_namespace_limits_bound_requests_in_flight_at_the_server(
    limit: int,
    overlap: bool,
    drill_cluster: Cluster,
    drill_namespace: str,
    dw_server: Callable[..., EmulatedServer],
    fault_proxy: Callable[[str], FaultProxy],
    operator_with: Callable[..., OperatorProcess],
) -> None:
    server = dw_server(NAMESPACES)
    proxy = fault_proxy(server.url)
    operator = operator_with(
        PAYLOAD_OPERATOR_MAX_RECONCILE_WORKERS=str(limit), PAYLOAD_OPERATOR_NAMESPACE_SYNC_CONCURRENCY=str(limit)
    )
    seen = run_fleet(drill_cluster, drill_namespace, server, proxy, operator)
    assert len(seen) >= len(RESOURCES) * len(NAMESPACES), "every resource synced every namespace"
    if overlap:
        assert most_in_flight(seen) >= len(NAMESPACES)
    else:
        assert most_in_flight(seen) == 1
