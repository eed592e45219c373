"""Drill: a tenant points `server.url` at a server answering 300 MiB, to crash the shared operator.

The operator (a real process, as in a pod) must abandon every such answer at its cap: its resident memory
(psutil; the peak from /proc) stays within a small margin of what it needed before, the tenant's resource
reports why, another tenant's resource keeps being reconciled, and after a restart (Kopf resumes every
resource, so the attack is read again) the same holds. Before bounded reads one reply grew RSS by 955 MiB.
"""

from __future__ import annotations

from collections.abc import Callable

import psutil
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.hostile_http import ChunkedHugeReply, HugeReply
from devkit.httpserver import local_http_server
from devkit.operator_process import OperatorProcess
from devkit.waiting import wait_for

from tests.drills.kube import apply, condition, eps, get_eps, patch_spec, token_secret, wait_all

MARGIN_KIB = 100 * 1024  # far below one 300 MiB reply, far above the operator's own jitter


def _peak_within_margin(operator: OperatorProcess, baseline_kib: int) -> None:
    current = psutil.Process(operator.pid).memory_info().rss // 1024
    _, peak = operator.rss_kib()
    assert peak - baseline_kib < MARGIN_KIB, f"peak RSS {peak >> 10} MiB vs {baseline_kib >> 10} MiB before the attack"
    assert current - baseline_kib < MARGIN_KIB


def _attacked(operator: OperatorProcess, cluster: Cluster, namespace: str, since: int) -> None:
    """Both hostile resources report the oversized answer, and at least two more were abandoned since `since`."""
    wait_all(cluster, namespace, ["announced", "chunked"], "PolicySynced", "False", "ResponseTooLarge", timeout=60)
    wait_for(lambda: HugeReply.served >= since + 2, timeout=60, message="the hostile servers were read again")
    operator.assert_up()


def test_a_300_mib_reply_leaves_the_operator_small_and_serving_others_also_after_a_restart(
    operator: OperatorProcess,
    drill_cluster: Cluster,
    drill_namespace: str,
    dw_server: Callable[..., EmulatedServer],
) -> None:
    honest_server = dw_server()
    namespace = drill_namespace
    apply(drill_cluster, token_secret(namespace))
    apply(drill_cluster, eps(namespace, "honest", url=honest_server.url, local_root=honest_server.local_root))
    wait_all(drill_cluster, namespace, ["honest"], "Ready", "True")
    baseline = psutil.Process(operator.pid).memory_info().rss // 1024

    with local_http_server(HugeReply) as announced, local_http_server(ChunkedHugeReply) as chunked:
        root = honest_server.local_root
        apply(
            drill_cluster,
            eps(namespace, "announced", url=announced, local_root=root, timeout=30),
            eps(namespace, "chunked", url=chunked, local_root=root, timeout=30),
        )
        _attacked(operator, drill_cluster, namespace, since=0)
        message = condition(get_eps(drill_cluster, namespace, "announced"), "PolicySynced")["message"]
        assert "larger than 1048576 bytes" in message

        patch_spec(drill_cluster, namespace, "honest", {"thresholdBytes": 8192})  # someone else's edit
        wait_all(drill_cluster, namespace, ["honest"], "Ready", "True")
        assert honest_server.policy("orders")["threshold_bytes"] == 8192
        _peak_within_margin(operator, baseline)

        operator.kill()  # the pod restarts: Kopf resumes every resource, the attack included
        operator.start()
        restarted_baseline = psutil.Process(operator.pid).memory_info().rss // 1024
        _attacked(operator, drill_cluster, namespace, since=HugeReply.served)
        patch_spec(drill_cluster, namespace, "honest", {"thresholdBytes": 16384})
        wait_all(drill_cluster, namespace, ["honest"], "Ready", "True")
        assert honest_server.policy("orders")["threshold_bytes"] == 16384
        _peak_within_margin(operator, max(baseline, restarted_baseline))
