"""Drill 3: `kill -9` of the operator in the middle of its work, then a restart, as a pod kill would do.

The operator runs as a real process; a fault proxy holds one call open (the server or storage is
"slow"), the drill waits until that call is in flight and SIGKILLs the process group: no shutdown
handler, no last status write. After the restart the end state must be right, every write made once,
no run doubled or lost, and schedules must go on from what status recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.faultproxy import FaultProxy
from devkit.operator_process import OperatorProcess
from devkit.services import S3Endpoint
from devkit.values import SECRETS
from devkit.waiting import wait_for

from tests.drills.kube import apply, condition, eps, get_eps, s3_secret, token_secret, wait_all
from tests.drills.leaks import assert_no_secrets, gather
from tests.drills.storage import (
    FOREIGN_RULES,
    PREFIX,
    foreign,
    owned_days,
    payload_key,
    put_rules,
    s3_bucket,
    seeded_foreign,
    spec_block,
)

HOLD = 120.0  # longer than any drill step: the held call only ends with the kill
NAMESPACES = ("orders", "billing")


def held(proxy: FaultProxy, **criteria: Any) -> None:
    """Block until a matching call is in flight at the proxy (held there)."""
    assert proxy.requests.wait_for(1, timeout=60, pending=True, **criteria), f"no call held: {criteria}"


def policy_writes(server: EmulatedServer, namespace: str) -> int:
    return server.count(method="PUT", path=f"/api/namespaces/{namespace}/external-storage", status=200)


def test_kill_in_the_middle_of_a_reconcile(
    drill_cluster: Cluster,
    drill_namespace: str,
    operator: OperatorProcess,
    dw_server: Callable[..., EmulatedServer],
    fault_proxy: Callable[[str], FaultProxy],
) -> None:
    server = dw_server(NAMESPACES)
    proxy = fault_proxy(server.url)
    proxy.delay(HOLD, method="PUT", path_prefix="/api/namespaces/billing/")  # orders is written, billing hangs
    apply(
        drill_cluster,
        token_secret(drill_namespace),
        eps(drill_namespace, "payloads", url=proxy.url, local_root=server.local_root, timeout=300),
    )
    held(proxy, method="PUT", path_prefix="/api/namespaces/billing/")
    wait_for(lambda: policy_writes(server, "orders") == 1, 30, message="orders written before the kill")

    operator.kill()
    assert proxy.requests.wait_for(1, timeout=HOLD + 10, fault="client-gone"), "the held write died with the process"
    assert server.policy("billing") is None, "the killed write never reached the server"
    proxy.clear()
    operator.start()

    body = wait_all(drill_cluster, drill_namespace, ["payloads"], "Ready", "True", timeout=60)["payloads"]
    expected = {"driver": "local", "enabled": True, "threshold_bytes": 4096}
    for namespace in NAMESPACES:
        assert server.policy(namespace) == expected | {"config": {"uri": server.local_root.as_uri()}}
        assert policy_writes(server, namespace) == 1, f"{namespace}: written more than once"
    assert {e["name"] for e in body["status"]["namespaces"]} == set(NAMESPACES)
    operator.assert_up()
    assert_no_secrets(gather(drill_cluster, [drill_namespace], operator.log), SECRETS)


def test_kill_in_the_middle_of_a_lifecycle_write(
    drill_cluster: Cluster,
    drill_namespace: str,
    operator: OperatorProcess,
    dw_server: Callable[..., EmulatedServer],
    fault_proxy: Callable[[str], FaultProxy],
    moto_s3: S3Endpoint,
) -> None:
    bucket = s3_bucket(moto_s3)
    put_rules(bucket, FOREIGN_RULES["s3"])
    objects = [payload_key(b"kept"), f"{PREFIX}/tmp/upload", "logs/app.log"]
    for key in objects:
        bucket.put(key, key.encode())
    server = dw_server(["orders"])
    proxy = fault_proxy(moto_s3.url)
    # The rules reach the bucket; the answer never reaches the operator.
    proxy.delay(HOLD, method="PUT", query_contains="lifecycle", after_forward=True)
    manifest = eps(
        drill_namespace,
        "payloads",
        url=server.url,
        dw_namespaces=["orders"],
        prefix=PREFIX,
        lifecycle={"tmpPrefixes": ["tmp/"], "expirationDays": 10},
        **spec_block(bucket, proxy.url),
    )
    apply(drill_cluster, token_secret(drill_namespace), s3_secret(drill_namespace), manifest)
    assert proxy.requests.wait_for(1, timeout=60, fault="delay-answer"), "the lifecycle write never happened"
    assert owned_days(bucket) == [10], "the write landed"

    operator.kill()
    status = get_eps(drill_cluster, drill_namespace, "payloads").get("status") or {}
    assert "lifecycle" not in status, "the killed process recorded nothing"
    writes_before = proxy.requests.count(method="PUT", query_contains="lifecycle")
    proxy.clear()
    operator.start()

    body = wait_all(drill_cluster, drill_namespace, ["payloads"], "LifecycleSynced", "True", timeout=60)["payloads"]
    assert foreign(bucket) == seeded_foreign("s3"), "a foreign rule changed"
    assert owned_days(bucket) == [10], "exactly one owned rule"
    assert proxy.requests.count(method="PUT", query_contains="lifecycle") == writes_before, "rules written again"
    assert body["status"]["lifecycle"]["foreignRuleCount"] == len(FOREIGN_RULES["s3"])
    assert bucket.intact(objects) == []
    assert not proxy.requests.find(method="DELETE")
    operator.assert_up()
    assert_no_secrets(gather(drill_cluster, [drill_namespace], operator.log), SECRETS)


def test_kill_in_the_middle_of_an_in_process_run(
    drill_cluster: Cluster,
    drill_namespace: str,
    operator: OperatorProcess,
    dw_server: Callable[..., EmulatedServer],
    fault_proxy: Callable[[str], FaultProxy],
) -> None:
    server = dw_server(["orders"], profile="references")  # a server whose histories show references
    for n in range(3):
        server.add_workflow("orders", f"wf-{n}", input=server.inline_payload(f"small input {n}"))
    proxy = fault_proxy(server.url)
    proxy.delay(HOLD, method="GET", path_prefix="/api/workflows", count=1)  # the run's history walk hangs
    retention = {"schedule": "* * * * *", "serverPasses": False, "orphanAudit": {"mode": "DryRun", "minAge": "1h"}}
    manifest = eps(
        drill_namespace,
        "payloads",
        url=proxy.url,
        dw_namespaces=["orders"],
        local_root=server.local_root,
        timeout=300,
        retention=retention,
        runner={"type": "InProcess"},
    )
    apply(drill_cluster, token_secret(drill_namespace), manifest)
    held(proxy, method="GET", path_prefix="/api/workflows")
    active = wait_for(
        lambda: (
            (get_eps(drill_cluster, drill_namespace, "payloads").get("status") or {})
            .get("retention", {})
            .get("activeRun")
        ),
        30,
        message="the run recorded as active",
    )

    operator.kill()
    before = get_eps(drill_cluster, drill_namespace, "payloads")["status"]["retention"]
    assert before["activeRun"]["id"] == active["id"]
    proxy.clear()
    walks_before = server.count(method="GET", path="/api/workflows")
    operator.start()

    def succeeded() -> dict[str, Any] | None:
        block = get_eps(drill_cluster, drill_namespace, "payloads")["status"]["retention"]
        return block if (block.get("lastResult") or {}).get("result") == "Succeeded" else None

    block = wait_for(succeeded, 150, interval=1, message="the next scheduled run succeeds")
    runs = block["recentRuns"]
    assert [r["result"] for r in runs] == ["Succeeded", "Failed"], f"no run doubled or lost: {runs}"
    assert "interrupted" in runs[1]["message"], runs[1]
    assert runs[1]["startTime"] == active["startTime"], "the killed run is the one recorded as interrupted"
    assert block["lastResult"]["runId"] != active["id"], "the interrupted run was not started again"
    resumed = _time(block["lastRunTime"])
    assert resumed >= _time(before["nextRunTime"]), "the schedule went on from the time status recorded"
    assert server.count(method="GET", path="/api/workflows") - walks_before == 1, "exactly one run after the restart"
    assert "activeRun" not in block
    body = get_eps(drill_cluster, drill_namespace, "payloads")
    assert condition(body, "RetentionSucceeded")["status"] == "True"
    operator.assert_up()
    assert_no_secrets(gather(drill_cluster, [drill_namespace], operator.log), SECRETS)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
