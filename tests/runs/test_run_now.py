"""The run-now annotation (`kubectl eps verify`): a run outside the schedule, once per request."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any, cast

from devkit.waiting import async_wait_for

from payload_operator.adapters.kube import KubeClient
from payload_operator.scheduler.framework import TickResult, tick_runs
from payload_operator.scheduler.on_demand import RUN_NOW_ANNOTATION
from tests.runs.test_framework_in_process import CONFIG, CREATED, BlockingKind, Cluster, CountingKind
from tests.support.status import apply_as_kopf

LATER = CREATED + timedelta(hours=3)  # the daily schedule's next occurrence is at midnight


async def tick(cluster: Cluster, body: dict[str, Any] | None = None) -> TickResult:
    """One tick at LATER on `body` (the current one by default); status and annotations applied as Kopf would."""
    result = await tick_runs(
        copy.deepcopy(body or cluster.body),
        cast(KubeClient, cluster.kube),
        CONFIG,
        {"retention": cluster.kind},
        cluster.state,
        now=LATER,
    )
    if result.change is not None:
        apply_as_kopf(result.change, cluster.body)
    annotations = cluster.body["metadata"].setdefault("annotations", {})
    for key, value in result.annotations.items():
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value
    cluster.body["metadata"]["resourceVersion"] = str(int(cluster.body["metadata"]["resourceVersion"]) + 1)
    return result


async def finished_first_run(kind: CountingKind) -> Cluster:
    cluster = Cluster(kind)
    cluster.body["metadata"]["resourceVersion"] = "1"
    await cluster.tick(CREATED)
    await cluster.until_finished(CREATED)
    return cluster


def ask(cluster: Cluster, value: str) -> None:
    cluster.body["metadata"].setdefault("annotations", {})[RUN_NOW_ANNOTATION] = value
    cluster.body["metadata"]["resourceVersion"] = str(int(cluster.body["metadata"]["resourceVersion"]) + 1)


async def test_a_request_starts_a_run_now_and_is_removed_and_a_stale_body_does_not_start_another() -> None:
    kind = CountingKind()
    cluster = await finished_first_run(kind)
    ask(cluster, "retention")
    asked = copy.deepcopy(cluster.body)
    result = await tick(cluster)
    assert result.annotations == {RUN_NOW_ANNOTATION: None}
    assert cluster.block["activeRun"]["id"] == "20260301-121700"
    assert cluster.block["nextRunTime"] == "2026-03-02T00:00:00Z"  # the schedule is unchanged
    await tick(cluster, asked)  # Kopf hands over the body from before the patch
    await cluster.until_finished(LATER)
    assert [run["startTime"] for run in cluster.block["recentRuns"]] == ["2026-03-01T12:17:00Z", "2026-03-01T09:17:00Z"]
    assert len(kind.contexts) == 4  # two runs of two shards, not three


async def test_a_request_waits_for_the_active_run_and_unknown_kinds_are_dropped() -> None:
    kind = BlockingKind()
    cluster = Cluster(kind, runner={"type": "InProcess", "shards": 1, "activeDeadlineSeconds": 604800})
    cluster.body["metadata"]["resourceVersion"] = "1"
    await cluster.tick(CREATED)
    ask(cluster, "retention,nonsense")
    result = await tick(cluster)
    assert result.annotations == {RUN_NOW_ANNOTATION: "retention"}  # kept until the active run ends
    assert cluster.block["activeRun"]["id"] == "20260301-091700"
    kind.release.set()

    async def next_run_started() -> bool:
        await tick(cluster)
        return cluster.block.get("activeRun", {}).get("id") == "20260301-121700"

    await async_wait_for(next_run_started, timeout=60, message="the requested run never started")
    assert RUN_NOW_ANNOTATION not in cluster.body["metadata"]["annotations"]
    assert cluster.block["recentRuns"][0]["startTime"] == "2026-03-01T09:17:00Z"


async def test_a_request_for_a_kind_without_spec_is_dropped_unrun() -> None:
    kind = CountingKind()
    cluster = await finished_first_run(kind)
    ask(cluster, "integrity")
    result = await tick(cluster)
    assert result.annotations == {RUN_NOW_ANNOTATION: None}
    assert "activeRun" not in cluster.block


async def test_a_request_seen_on_a_body_older_than_the_finish_of_the_last_run_waits_for_the_next_tick() -> None:
    kind = BlockingKind()
    cluster = Cluster(kind, runner={"type": "InProcess", "shards": 1, "activeDeadlineSeconds": 604800})
    cluster.body["metadata"]["resourceVersion"] = "1"
    await cluster.tick(CREATED)
    before_finish = copy.deepcopy(cluster.body)  # still shows the run as active
    kind.release.set()
    await cluster.until_finished(CREATED)
    ask(cluster, "retention")  # the request lands while Kopf still holds the older body
    stale = before_finish | {"metadata": before_finish["metadata"] | {"annotations": {RUN_NOW_ANNOTATION: "retention"}}}
    assert (await tick(cluster, stale)).annotations == {}  # not started, so not answered
    assert (await tick(cluster)).annotations == {RUN_NOW_ANNOTATION: None}
    assert cluster.block["activeRun"]["id"] == "20260301-121700"
