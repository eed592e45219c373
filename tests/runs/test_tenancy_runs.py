"""Scheduled runs under the admin's tenant policy: a resource asking for more never starts, and a run whose
credentials name an endpoint the policy refuses fails before its work is called."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from devkit.waiting import async_wait_for

from payload_operator.adapters.kube import KubeClient
from payload_operator.core.config import OperatorConfig
from payload_operator.planning.tenancy import DENIED, TenantPolicy
from payload_operator.scheduler.framework import tick_runs
from payload_operator.scheduler.inprocess_runner import RunKey
from tests.runs.helpers import UID, CountingKind
from tests.runs.test_framework_in_process import Cluster, FakeKube
from tests.support.status import apply_as_kopf

CREATED = datetime(2026, 3, 1, 9, 17, 0, tzinfo=UTC)
AZURE = {
    "driver": "azure",
    "local": None,
    "azure": {
        "container": "payloads",
        "accountUrl": "https://acct.blob.core.windows.net",
        "credentialsSecretRef": {"name": "az"},
    },
}


async def _tick(cluster: Cluster, config: OperatorConfig) -> None:
    kube = cast(KubeClient, cluster.kube)
    result = await tick_runs(cluster.body, kube, config, {"retention": cluster.kind}, cluster.state, now=CREATED)
    if result.change is not None:
        apply_as_kopf(result.change, cluster.body)


async def test_a_starving_resource_never_starts_under_the_default_policy() -> None:
    kind = CountingKind()
    cluster = Cluster(kind, runner={"type": "InProcess", "shards": 16}, integrity={"concurrency": 256})
    await _tick(cluster, OperatorConfig(tenant_policy=TenantPolicy()))  # the default, whatever the session's env says
    condition = cluster.condition()
    assert (condition["status"], condition["reason"]) == ("False", DENIED)
    for setting in ("inProcessNamespaces", "maxShards", "maxConcurrency", "localRoots"):
        assert f"tenantPolicy.{setting}" in condition["message"], condition["message"]
    assert "activeRun" not in cluster.block
    assert cluster.block["recentRuns"][0]["result"] == "Failed"  # recorded, so the schedule moves on
    assert kind.contexts == []
    assert not cluster.state.in_process.knows(RunKey(UID, "retention", "20260301-091700"))


async def test_a_run_whose_secret_names_a_refused_endpoint_fails_before_its_work() -> None:
    """The connection string is only known once the Secret is read: the run checks again then."""
    kind = CountingKind()
    secrets = {
        "dw-admin": {"token": "adm-token"},
        "az": {"connectionString": "BlobEndpoint=http://169.254.169.254/x;AccountName=a;AccountKey=k3y"},
    }
    cluster = Cluster(kind, kube=FakeKube(secrets), runner={"type": "InProcess", "shards": 1}, **AZURE)
    config = OperatorConfig(tenant_policy=TenantPolicy(in_process_namespaces=["*"]))
    await _tick(cluster, config)
    assert "activeRun" in cluster.block  # allowed to start: the spec alone asks for nothing refused

    async def finished() -> bool:
        await _tick(cluster, config)
        return "activeRun" not in cluster.block

    await async_wait_for(finished, timeout=60, message="the in-process run never finished")
    assert kind.contexts == []
    message = cluster.condition()["message"]
    assert "TenantPolicyDenied" in message, message
    assert "169.254.169.254" in message, message
    assert "k3y" not in message
