"""The framework's timer entry point with the InProcess runner: scheduling, results in status, restarts."""

from __future__ import annotations

import asyncio
import copy
import gc
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any, cast

from devkit.waiting import async_wait_for
from prometheus_client import REGISTRY

from payload_operator.adapters.kube import KubeClient, SecretNotFound
from payload_operator.api.results import GIB, RetentionResult, StorageUsage, UsageFigure, added
from payload_operator.core.config import OperatorConfig
from payload_operator.core.run_context import RunContext
from payload_operator.core.secrets import SecretValues
from payload_operator.planning.tenancy import LocalRootGrant, TenantPolicy
from payload_operator.scheduler.framework import RunnerState, TickResult, tick_runs
from payload_operator.scheduler.kinds import RunKind
from tests.runs.helpers import CountingKind, body
from tests.support.status import apply_as_kopf

CREATED = datetime(2026, 3, 1, 9, 17, 0, tzinfo=UTC)
# The admin allows what these resources ask for: InProcess runs on a local root (docs/security.md).
CONFIG = OperatorConfig(
    tenant_policy=TenantPolicy(in_process_namespaces=["team-a"], local_roots=[LocalRootGrant(path="/srv")])
)


class FakeKube:
    """The two Secret reads a run context needs."""

    def __init__(self, secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.secrets = {"dw-admin": {"token": "adm-token"}} if secrets is None else secrets

    async def read_secret(self, namespace: str, name: str) -> SecretValues:
        if name not in self.secrets:
            raise SecretNotFound(f"Secret {namespace}/{name} not found", 404)
        return SecretValues(f"{namespace}/{name}", self.secrets[name])

    async def read_secret_key(self, namespace: str, name: str, key: str) -> str:
        return (await self.read_secret(namespace, name))[key]


class BlockingKind(CountingKind):
    """Shards wait until released, so a run stays active as long as a test needs."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def execute(self, context: RunContext) -> RetentionResult:
        await self.release.wait()
        return await super().execute(context)


class Cluster:
    """A resource body that ticks, with status changes applied as Kopf would apply them."""

    def __init__(
        self, kind: RunKind[Any], *, kube: FakeKube | None = None, config: OperatorConfig = CONFIG, **spec: Any
    ) -> None:
        spec.setdefault("runner", {"type": "InProcess", "shards": 2})
        self.body = body(**spec)
        self.kind = kind
        self.config = config
        self.kube = kube or FakeKube()
        self.state = RunnerState()
        self.events: list[Any] = []

    async def look(self, now: datetime, stored: dict[str, Any] | None = None) -> TickResult:
        """One tick over a copy of the body (or of `stored`), nothing applied."""
        return await tick_runs(
            copy.deepcopy(self.body if stored is None else stored),
            cast(KubeClient, self.kube),
            self.config,
            {"retention": self.kind},
            self.state,
            now=now,
        )

    async def tick(self, now: datetime) -> bool:
        result = await self.look(now)
        self.events.extend(result.events)
        change = result.change
        if change is not None:
            apply_as_kopf(change, self.body)
        return change is not None

    @property
    def block(self) -> dict[str, Any]:
        block: dict[str, Any] = self.body.get("status", {}).get("retention", {})
        return block

    def condition(self) -> Mapping[str, Any]:
        return next(c for c in self.body["status"]["conditions"] if c["type"] == "RetentionSucceeded")

    async def until_finished(self, now: datetime) -> None:
        async def finished() -> bool:
            await self.tick(now)
            return "activeRun" not in self.block

        await async_wait_for(finished, timeout=60, message="the in-process run never finished")


async def test_a_new_resource_runs_at_once_and_its_result_lands_in_status() -> None:
    kind = CountingKind()
    cluster = Cluster(kind)
    await cluster.tick(CREATED)
    active = cluster.block["activeRun"]
    assert (active["runner"], active["shards"], active["id"]) == ("InProcess", 2, "20260301-091700")
    assert cluster.block["lastRunTime"] == "2026-03-01T09:17:00Z"
    assert cluster.block["nextRunTime"] == "2026-03-02T00:00:00Z"
    assert cluster.block["effectiveSchedule"] == "0 0 * * *"
    await cluster.until_finished(CREATED + timedelta(seconds=5))
    assert cluster.block["lastResult"] | {} == {
        "shards": 2,
        "dryRun": False,
        "orphans": cluster.block["lastResult"]["orphans"] | {"listed": 21, "sample": ["key-0", "key-1"]},
        "runId": "20260301-091700",
        "result": "Succeeded",
        "message": "saw 21 objects",
        "durationSeconds": 5.0,
        "jobNames": [],
    }
    assert cluster.block["lastSuccessfulTime"] == "2026-03-01T09:17:00Z"
    assert [r["result"] for r in cluster.block["recentRuns"]] == ["Succeeded"]
    assert cluster.condition()["status"] == "True"
    assert {c.server_token for c in kind.contexts} == {"adm-token"}
    assert {c.dry_run for c in kind.contexts} == {False}
    assert sorted(c.shard.index for c in kind.contexts) == [0, 1]
    assert [(e.type, e.reason) for e in cluster.events] == [("Normal", "RunSucceeded")]
    assert "saw 21 objects" in cluster.events[0].message
    runs = REGISTRY.get_sample_value(
        "payload_operator_run_total",
        {"resource_namespace": "team-a", "resource_name": "payloads", "kind": "retention", "result": "Succeeded"},
    )
    assert runs is not None
    assert runs >= 1
    interval = {"resource_namespace": "team-a", "resource_name": "payloads", "kind": "retention"}
    assert REGISTRY.get_sample_value("payload_operator_run_expected_interval_seconds", interval) == 86400


async def test_nothing_more_happens_until_the_next_occurrence_then_exactly_one_run() -> None:
    kind = CountingKind()
    cluster = Cluster(kind)
    await cluster.tick(CREATED)
    await cluster.until_finished(CREATED + timedelta(seconds=1))
    assert not await cluster.tick(CREATED + timedelta(hours=2))
    await cluster.tick(datetime(2026, 3, 4, 0, 0, 2, tzinfo=UTC))  # two occurrences were missed
    assert cluster.block["activeRun"]["id"] == "20260302-000000"
    await cluster.until_finished(datetime(2026, 3, 4, 0, 0, 3, tzinfo=UTC))
    assert len(kind.contexts) == 4  # two runs of two shards: the missed occurrence was not replayed
    assert cluster.block["nextRunTime"] == "2026-03-05T00:00:00Z"


async def test_a_tick_says_when_the_runs_next_need_one_busy_while_a_run_is_active() -> None:
    """What lets the timer skip the ticks in between (handlers.tick): the next run time, or busy."""
    cluster = Cluster(CountingKind())
    await cluster.tick(CREATED)
    scheduled = await cluster.look(CREATED + timedelta(seconds=1))
    assert scheduled.busy, "a run is active: it is polled on every tick"
    await cluster.until_finished(CREATED + timedelta(seconds=2))
    later = CREATED + timedelta(hours=2)
    settled = await cluster.look(later)
    assert not settled.busy
    assert settled.next_run == datetime(2026, 3, 2, 0, 0, tzinfo=UTC), "the next occurrence of @daily"
    unscheduled = await cluster.look(later, body(retention=None))
    assert (unscheduled.busy, unscheduled.next_run) == (False, None), "no run kind: nothing bounds the quiet"


async def test_a_failing_shard_makes_the_run_partial_and_the_condition_false() -> None:
    cluster = Cluster(CountingKind(fail_shards=(1,)))
    await cluster.tick(CREATED)
    await cluster.until_finished(CREATED)
    condition = cluster.condition()
    assert (condition["status"], condition["reason"]) == ("False", "PartiallyFailed")
    assert "1 of 2 shards failed: RuntimeError: shard 1 broke" in condition["message"]
    assert cluster.block["lastResult"]["failedShards"] == {"1": "RuntimeError: shard 1 broke"}
    assert "lastSuccessfulTime" not in cluster.block
    assert [(e.type, e.reason) for e in cluster.events] == [("Warning", "RunPartiallyFailed")]


async def test_a_missing_token_secret_fails_the_run_with_the_reason() -> None:
    cluster = Cluster(CountingKind(), kube=FakeKube(secrets={}))
    await cluster.tick(CREATED)
    await cluster.until_finished(CREATED)
    condition = cluster.condition()
    assert (condition["status"], condition["reason"]) == ("False", "Failed")
    assert "SecretNotFound: Secret team-a/dw-admin not found" in condition["message"]


async def test_a_due_run_is_skipped_while_the_previous_one_is_still_active() -> None:
    kind = BlockingKind()
    cluster = Cluster(kind, runner={"type": "InProcess", "shards": 2, "activeDeadlineSeconds": 604800})
    await cluster.tick(CREATED)
    due = datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)
    await cluster.tick(due)
    assert cluster.block["lastSkippedTime"] == "2026-03-02T00:00:01Z"
    assert cluster.block["activeRun"]["id"] == "20260301-091700"
    assert cluster.block["nextRunTime"] == "2026-03-03T00:00:00Z"
    kind.release.set()
    await cluster.until_finished(due)
    assert not await cluster.tick(due + timedelta(minutes=1))  # the skipped occurrence is not made up
    assert len(kind.contexts) == 2


async def test_after_a_restart_an_interrupted_run_is_recorded_as_failed_and_never_rerun() -> None:
    kind = BlockingKind()
    cluster = Cluster(kind)
    await cluster.tick(CREATED)
    await cluster.state.close()  # the operator stops; status still says the run is active
    cluster.state = RunnerState()  # ... and starts again
    await cluster.tick(CREATED + timedelta(minutes=3))
    assert "activeRun" not in cluster.block
    condition = cluster.condition()
    assert (condition["status"], condition["reason"]) == ("False", "Failed")
    assert "interrupted" in condition["message"]
    assert cluster.block["lastRunTime"] == "2026-03-01T09:17:00Z"
    assert cluster.block["nextRunTime"] == "2026-03-02T00:00:00Z"
    assert kind.contexts == []


async def test_a_body_that_predates_the_finished_run_changes_nothing() -> None:
    cluster = Cluster(CountingKind())
    await cluster.tick(CREATED)
    stale = copy.deepcopy(cluster.body)
    await cluster.until_finished(CREATED)
    for old in (stale, body(runner={"type": "InProcess", "shards": 2})):
        result = await cluster.look(CREATED, old)
        assert result.change is None
        assert result.events == []


async def test_an_in_process_run_past_its_deadline_is_stopped_and_failed() -> None:
    kind = BlockingKind()
    cluster = Cluster(kind, runner={"type": "InProcess", "shards": 1, "activeDeadlineSeconds": 60})
    await cluster.tick(CREATED)
    await cluster.tick(CREATED + timedelta(seconds=121))
    condition = cluster.condition()
    assert (condition["status"], condition["reason"]) == ("False", "Failed")
    assert "deadline" in condition["message"]


async def test_suspending_stops_scheduling_and_clears_the_next_run_time() -> None:
    kind = CountingKind()
    cluster = Cluster(kind, retention={"schedule": "@daily", "suspend": True})
    await cluster.tick(CREATED)
    assert not {"activeRun", "lastRunTime", "nextRunTime"} & set(cluster.block)
    cluster.body["spec"]["retention"]["suspend"] = False
    await cluster.tick(CREATED)
    await cluster.until_finished(CREATED)
    cluster.body["spec"]["retention"]["suspend"] = True
    await cluster.tick(CREATED + timedelta(days=3))
    assert "nextRunTime" not in cluster.block
    assert cluster.block["lastResult"]["result"] == "Succeeded"
    assert len(kind.contexts) == 2


async def test_a_schedule_cron_cannot_parse_is_reported_on_the_condition() -> None:
    cluster = Cluster(CountingKind(), retention={"schedule": "61 * * * *"})
    await cluster.tick(CREATED)
    condition = cluster.condition()
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSchedule")
    assert "61 * * * *" in condition["message"]
    assert "activeRun" not in cluster.block


async def test_resources_without_the_block_are_left_alone() -> None:
    cluster = Cluster(CountingKind())
    del cluster.body["spec"]["retention"]
    assert not await cluster.tick(CREATED)
    assert "status" not in cluster.body


def test_an_integrity_run_with_damage_names_the_bad_keys_in_a_warning() -> None:
    from payload_operator.api.results import BadEntry, IntegrityResult, RunOutcome
    from payload_operator.scheduler.framework import run_events
    from payload_operator.scheduler.results import Conclusion

    result = IntegrityResult(
        missing=1,
        corrupt=1,
        bad=[BadEntry(key="avro/ab/ab12", problem="missing"), BadEntry(key="avro/cd/cd34", problem="hash")],
    )
    events = run_events("integrity", "20260301-030000", Conclusion(RunOutcome.FAILED, "1 missing, 1 corrupt", result))
    assert [(e.type, e.reason) for e in events] == [("Warning", "RunFailed"), ("Warning", "IntegrityViolation")]
    assert "avro/ab/ab12 (missing)" in events[1].message
    assert "avro/cd/cd34 (hash)" in events[1].message


class UsageKind(CountingKind):
    """Each shard lists one GiB of referenced payloads; shard 0 also half a GiB of temporary uploads."""

    async def execute(self, context: RunContext) -> RetentionResult:
        result = await super().execute(context)
        temporary = UsageFigure(objects=1, bytes=GIB // 2) if context.shard.index == 0 else None
        usage = StorageUsage(referenced=UsageFigure(objects=2, bytes=GIB), temporary=temporary)
        return result.model_copy(update={"usage": usage})

    def merge(self, shard_results: Sequence[RetentionResult]) -> RetentionResult:
        usage = reduce(added, (r.usage for r in shard_results), None)
        return super().merge(shard_results).model_copy(update={"usage": usage})


async def test_storage_usage_lands_in_status_and_metrics_with_its_monthly_cost() -> None:
    priced = OperatorConfig(tenant_policy=CONFIG.tenant_policy, usage_price_per_gib_month=0.02)
    cluster = Cluster(UsageKind(), config=priced, name="priced")
    await cluster.tick(CREATED)
    await cluster.until_finished(CREATED + timedelta(seconds=5))
    assert cluster.block["lastResult"]["usage"] == {
        "referenced": {"objects": 4, "bytes": 2 * GIB},
        "temporary": {"objects": 1, "bytes": GIB // 2},
        "pricePerGibMonth": 0.02,
        "estimatedMonthlyCost": 0.05,
    }
    labels = {"resource_namespace": "team-a", "resource_name": "priced"}
    sample = REGISTRY.get_sample_value
    assert sample("payload_operator_storage_usage_bytes", labels | {"class": "referenced"}) == 2 * GIB
    assert sample("payload_operator_storage_usage_objects", labels | {"class": "temporary"}) == 1
    assert sample("payload_operator_storage_monthly_cost_estimate", labels | {"class": "referenced"}) == 0.04
    assert sample("payload_operator_storage_usage_bytes", labels | {"class": "quarantined"}) is None, "not measured"


class _Body(dict[str, Any]):
    """A body that can be watched by weak reference."""


async def test_a_run_waiting_for_a_shard_slot_does_not_keep_the_ticks_body_alive() -> None:
    """In a run storm a thousand runs wait for a few shard slots; each holding its tick's copy of the body
    (with status and managedFields) was most of the storm's extra memory."""
    kind = BlockingKind()
    cluster = Cluster(kind)
    cluster.state = RunnerState(max_concurrent_shards=1)  # one shard runs (blocked), the other waits
    stored = _Body(copy.deepcopy(cluster.body))
    held = weakref.ref(stored)
    await tick_runs(
        stored, cast(KubeClient, cluster.kube), cluster.config, {"retention": kind}, cluster.state, now=CREATED
    )
    del stored
    gc.collect()
    assert held() is None, "a queued shard keeps the tick's body alive"
    kind.release.set()
