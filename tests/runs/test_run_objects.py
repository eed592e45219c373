"""What a run leaves in Kubernetes and in status: Job manifests, result envelopes, bookkeeping transitions."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payload_operator.api.resource import resource_from_body
from payload_operator.api.results import ActiveRun, RetentionResult, RunOutcome
from payload_operator.api.spec import RunnerType
from payload_operator.api.status import RetentionStatus
from payload_operator.core.run_context import Shard
from payload_operator.reconcile.published import owner_reference
from payload_operator.scheduler import bookkeeping, collect
from payload_operator.scheduler import job_manifest as jobs
from payload_operator.scheduler.collect import Observation
from payload_operator.scheduler.results import Conclusion, conclude, failed, parse_envelope, succeeded
from tests.runs.helpers import UID, CountingKind, body, resource, seen

START = datetime(2026, 3, 2, 0, 0, 3, tzinfo=UTC)


def test_a_shard_job_never_retries_is_bounded_in_time_and_belongs_to_the_resource() -> None:
    res = resource(runner={"shards": 4, "activeDeadlineSeconds": 900, "resources": {"limits": {"memory": "256Mi"}}})
    owner = owner_reference(body())
    job = jobs.job_manifest(
        res, owner, "retention", "20260302-000000", Shard(2, 4), image="op:1", service_account="runner"
    )
    assert job["metadata"]["name"] == "payloads-retention-20260302-000000-2"
    assert job["metadata"]["ownerReferences"] == [owner]
    assert job["metadata"]["labels"] | {} == job["spec"]["template"]["metadata"]["labels"]
    labels = job["metadata"]["labels"]
    assert labels[jobs.RESOURCE_UID] == UID
    assert (labels[jobs.RUN_KIND], labels[jobs.RUN_ID], labels[jobs.SHARD]) == ("retention", "20260302-000000", "2")
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 900
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "runner"
    (container,) = pod["containers"]
    assert container["image"] == "op:1"
    assert container["command"] == [
        "payload-operator",
        "retention",
        "--resource",
        "team-a/payloads",
        "--shard",
        "2/4",
        "--run-id",
        "20260302-000000",
        "--report",
        "configmap",
    ]
    assert container["resources"] == {"limits": {"memory": "256Mi"}}
    assert {"name": "payloads", "hostPath": {"path": "/srv/payloads", "type": "Directory"}} in pod["volumes"]


def test_long_resource_names_still_give_job_names_and_labels_kubernetes_accepts() -> None:
    long_name = "a" * 60 + "-" + "b" * 100
    res = resource_from_body(body(name=long_name))
    job = jobs.job_manifest(res, {}, "integrity", "20260302-000000", Shard(15, 16), image="i", service_account="s")
    name = job["metadata"]["name"]
    assert len(name) <= 63
    assert name == f"{'a' * 21}-{res.short_uid}-integrity-20260302-000000-15"
    assert all(len(v) <= 63 and v[-1].isalnum() for v in job["metadata"]["labels"].values())


def test_a_run_id_names_its_schedule_occurrence() -> None:
    occurrence = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert jobs.run_id_for(occurrence) == jobs.run_id_for(occurrence.astimezone()) == "20260302-010000"


def test_a_result_configmap_carries_the_envelope_and_is_owned_by_the_job() -> None:
    res = resource()
    job = "payloads-retention-20260302-000000-0"
    outcome = succeeded(Shard(0, 1), seen(3))
    configmap = jobs.result_configmap(
        res,
        "retention",
        "20260302-000000",
        Shard(0, 1),
        owner=jobs.job_owner_reference(job, "job-uid"),
        envelope=outcome.envelope(1),
    )
    assert configmap["metadata"]["name"] == "payloads-retention-20260302-000000-0-result"
    assert configmap["metadata"]["ownerReferences"][0]["uid"] == "job-uid"
    assert parse_envelope(RetentionResult, 0, 1, configmap["data"][jobs.RESULT_KEY]) == outcome


def test_unreadable_envelopes_are_failed_shards() -> None:
    assert parse_envelope(RetentionResult, 1, 2, "{not json").error == "result is not JSON"
    assert parse_envelope(RetentionResult, 1, 2, "[1]").error == "result is not a JSON object"
    assert (
        parse_envelope(RetentionResult, 1, 2, json.dumps({"shard": "1/2", "ok": False, "error": "boom"})).error
        == "boom"
    )


@pytest.mark.parametrize(
    ("envelope", "problem"),
    [
        ({"shard": "0/2", "ok": True, "result": {"deleted": 0}}, "result is for shard 0/2, not 1/2"),
        ({"shard": "1/2", "ok": True}, "ok: true comes with a result"),
        ({"shard": "1/2", "ok": "yes", "result": {}}, "ok: Input should be a valid boolean"),
        ({"shard": "1/2", "ok": True, "result": {}, "verdict": "all ok"}, "verdict: Extra inputs are not permitted"),
        ({"shard": "1/2", "ok": True, "result": []}, "result: Input should be a valid dictionary"),
        ({"shard": "../1", "ok": True, "result": {}}, "shard: String should match pattern"),
        ({"shard": "1/2", "ok": False, "error": "x" * 1000}, "error: String should have at most 300 characters"),
    ],
)
def test_an_envelope_off_its_typed_schema_is_a_failed_shard(envelope: dict[str, object], problem: str) -> None:
    outcome = parse_envelope(RetentionResult, 1, 2, json.dumps(envelope))
    assert outcome.result is None
    assert problem in outcome.error


def _job(shard: int, uid: str) -> dict[str, Any]:
    labels = {jobs.SHARD: str(shard), jobs.RUN_ID: "r"}
    return {"metadata": {"name": f"payloads-retention-r-{shard}", "uid": uid, "labels": labels}}


def _result(shard: int, *, name: str | None = None, owner_uid: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name or f"payloads-retention-r-{shard}-result",
        "namespace": "team-a",
        "uid": f"cm-{shard}-{name}-{owner_uid}",
        "labels": {jobs.SHARD: str(shard), jobs.RUN_ID: "r"},
    }
    if owner_uid is not None:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": "x", "uid": owner_uid}]
    return {"metadata": meta, "data": {jobs.RESULT_KEY: envelope(shard)}}


def test_only_results_owned_by_the_runs_own_job_count(caplog: pytest.LogCaptureFixture) -> None:
    run_jobs = [_job(0, "uid-0"), _job(1, "uid-1")]
    genuine = _result(0, owner_uid="uid-0")
    forged = [
        _result(1),  # right name and labels, no owner: any ConfigMap writer
        _result(1, owner_uid="uid-0"),  # another shard's Job
        _result(1, owner_uid=UID),  # the resource, as a result run by hand
        _result(1, name="sneaky", owner_uid="uid-1"),  # the right owner, another name
        _result(7, owner_uid="uid-1"),  # a shard the run does not have
    ]
    with caplog.at_level(logging.WARNING):
        accepted = collect.authentic_results(run_jobs, [genuine, *forged])
    assert accepted == [genuine]
    assert caplog.text.count("ignoring ConfigMap team-a/") == len(forged)
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        collect.authentic_results(run_jobs, forged)
    assert "ignoring" not in caplog.text, "each forged ConfigMap is warned about once, not on every tick"


def test_every_shard_merged_gives_the_kinds_own_verdict() -> None:
    kind = CountingKind()
    outcomes = {0: succeeded(Shard(0, 2), seen(10, "a")), 1: succeeded(Shard(1, 2), seen(11, "b"))}
    conclusion = conclude(kind, outcomes, 2)
    assert conclusion == Conclusion(RunOutcome.SUCCEEDED, "saw 21 objects", seen(21, "a", "b", shards=2))


def test_a_lost_shard_makes_the_run_partial_and_says_which() -> None:
    outcomes = {0: succeeded(Shard(0, 2), seen(10)), 1: failed(1, "Job x failed: DeadlineExceeded")}
    conclusion = conclude(CountingKind(), outcomes, 2)
    assert conclusion.outcome is RunOutcome.PARTIALLY_FAILED
    assert "1 of 2 shards failed: Job x failed: DeadlineExceeded" in conclusion.message
    assert conclusion.failed_shards == {"1": "Job x failed: DeadlineExceeded"}
    assert conclusion.result == seen(10)


def test_no_shard_at_all_is_a_failed_run() -> None:
    conclusion = conclude(CountingKind(), {}, 1)
    assert conclusion.outcome is RunOutcome.FAILED
    assert conclusion.message == "no result"


def run(shards: int = 2) -> ActiveRun:
    names = [f"payloads-retention-r-{i}" for i in range(shards)]
    return ActiveRun(
        id="r",
        start_time=START,
        runner=RunnerType.JOB,
        shards=shards,
        deadline=START + timedelta(hours=1),
        job_names=names,
    )


def envelope(index: int) -> str:
    return json.dumps(succeeded(Shard(index, 2), seen(index)).envelope(2))


def test_a_run_is_over_only_when_every_shard_has_an_outcome() -> None:
    active = run()
    jobs_seen = {name: {"status": {}} for name in active.job_names}
    assert collect.assess(active, Observation(jobs_seen, {0: envelope(0)}), START, RetentionResult) is None
    done = collect.assess(active, Observation(jobs_seen, {0: envelope(0), 1: envelope(1)}), START, RetentionResult)
    assert done is not None
    assert all(o.result is not None for o in done.values())


def test_failed_or_vanished_jobs_end_their_shard() -> None:
    active = run()
    failed_job = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}}
    outcomes = collect.assess(active, Observation({active.job_names[0]: failed_job}, {}), START, RetentionResult)
    assert outcomes is not None
    assert outcomes[0].error == f"Job {active.job_names[0]} failed: DeadlineExceeded"
    assert outcomes[1].error == f"Job {active.job_names[1]} is gone"


def test_a_job_that_completed_without_writing_a_result_is_a_failed_shard() -> None:
    active = run(1)
    complete = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    outcomes = collect.assess(active, Observation({active.job_names[0]: complete}, {}), START, RetentionResult)
    assert outcomes is not None
    assert "without a result" in outcomes[0].error


def test_the_deadline_ends_a_run_whose_jobs_never_report() -> None:
    active = run()
    pending = {name: {"status": {}} for name in active.job_names}
    outcomes = collect.assess(active, Observation(pending, {1: envelope(1)}), active.deadline, RetentionResult)
    assert outcomes is not None
    assert "deadline" in outcomes[0].error
    assert outcomes[1].result is not None


def test_history_keeps_the_newest_jobs() -> None:
    def job(name: str, created: str) -> dict[str, object]:
        return {"metadata": {"name": name, "creationTimestamp": created}}

    found = [job("a", "2026-03-01T00:00:00Z"), job("c", "2026-03-03T00:00:00Z"), job("b", "2026-03-02T00:00:00Z")]
    assert [j["metadata"]["name"] for j in collect.expired_jobs(found, 1)] == ["b", "a"]  # type: ignore[index]
    assert collect.expired_jobs(found, 3) == []


def test_a_finished_run_becomes_the_last_result_and_heads_the_recent_runs() -> None:
    active = run()
    book = bookkeeping.started(bookkeeping.read(None, RetentionStatus), active)
    assert book.active_run is not None
    assert book.last_run_time == "2026-03-02T00:00:03Z"
    conclusion = Conclusion(RunOutcome.SUCCEEDED, "fine", seen(9, "avro/ab/ab12"))
    end = START + timedelta(seconds=42)
    done = bookkeeping.finished(book, active, conclusion, end)
    assert done.active_run is None
    assert done.last_successful_time == "2026-03-02T00:00:03Z"
    last = done.to_wire()["lastResult"]
    assert last == {
        "shards": 1,
        "dryRun": False,
        "orphans": last["orphans"] | {"status": "ok", "listed": 9, "sample": ["avro/ab/ab12"]},
        "runId": "r",
        "result": "Succeeded",
        "message": "fine",
        "durationSeconds": 42.0,
        "jobNames": list(active.job_names),
    }
    assert done.recent_runs[0].result == "Succeeded"
    assert done.recent_runs[0].job_names == list(active.job_names)


def test_recent_runs_are_a_short_ring_newest_first_and_failures_keep_the_last_success() -> None:
    book = bookkeeping.read(None, RetentionStatus)
    for i in range(12):
        begun = START + timedelta(days=i)
        active = ActiveRun(
            id=f"r{i}", start_time=begun, runner=RunnerType.IN_PROCESS, shards=1, deadline=begun + timedelta(hours=1)
        )
        outcome = RunOutcome.SUCCEEDED if i < 11 else RunOutcome.FAILED
        book = bookkeeping.finished(bookkeeping.started(book, active), active, Conclusion(outcome, f"run {i}"), START)
    assert [r.message for r in book.recent_runs] == [f"run {i}" for i in range(11, 1, -1)]
    assert book.last_successful_time == bookkeeping.format_time(START + timedelta(days=10))
    last = book.to_wire()["lastResult"]
    assert (last["runId"], last["result"], last["message"]) == ("r11", "Failed", "run 11")
    assert set(last) == {"runId", "result", "message", "durationSeconds", "jobNames"}, "no counts it never measured"


def test_a_damaged_status_block_starts_afresh_and_a_damaged_active_run_alone_is_dropped() -> None:
    assert bookkeeping.read({"recentRuns": "garbage"}, RetentionStatus).recent_runs == []
    damaged = bookkeeping.read({"lastRunTime": "2026-03-01T00:00:00Z", "activeRun": {"id": "r"}}, RetentionStatus)
    assert (damaged.active_run, damaged.last_run_time) == (None, "2026-03-01T00:00:00Z")
    roundtrip = bookkeeping.read({"activeRun": run().to_wire()}, RetentionStatus).active_run
    assert roundtrip == run()


def test_an_active_run_and_result_written_by_the_previous_version_are_read() -> None:
    """The previous version wrote activeRun as strings (Job names comma-joined) and results in snake_case."""
    previous = {
        "activeRun": {
            "id": "r",
            "startTime": "2026-03-02T00:00:03Z",
            "runner": "Job",
            "shards": "2",
            "deadline": "2026-03-02T01:00:03Z",
            "jobs": "payloads-retention-r-0,payloads-retention-r-1",
        },
        "lastResult": {"runId": "q", "result": "Succeeded", "serverPasses": {"status": "ok", "runsPruned": 3}},
    }
    book = bookkeeping.read(previous, RetentionStatus)
    assert book.active_run == run()
    assert book.last_result is not None
    assert book.last_result.server_passes is not None
    assert book.last_result.server_passes.runs_pruned == 3
    snake = {
        "shard": "1/2",
        "ok": True,
        "result": {"dry_run": False, "orphans": {"status": "ok", "candidate_bytes": 7}},
    }
    outcome = parse_envelope(RetentionResult, 1, 2, json.dumps(snake))
    assert outcome.result is not None
    assert outcome.result.orphans is not None
    assert outcome.result.orphans.candidate_bytes == 7


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({}, jobs.DEFAULT_RESOURCES),
        ({"requests": {"memory": "2Gi"}}, {"requests": {"memory": "2Gi"}, "limits": {"memory": "2Gi"}}),
        ({"requests": {"cpu": "1"}}, {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}),
        ({"limits": {"cpu": "2"}}, {"limits": {"cpu": "2", "memory": "1Gi"}}),
    ],
)
def test_job_pods_run_as_a_fixed_non_root_uid_with_bounded_memory_and_tmp(
    resources: dict[str, Any], expected: dict[str, Any]
) -> None:
    job = jobs.job_manifest(
        resource(runner={"resources": resources}), {}, "integrity", "r", Shard(), image="i", service_account="s"
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == 65532
    (container,) = pod["containers"]
    assert container["resources"] == expected
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}} in pod["volumes"]
    downward = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e}
    assert downward == {
        jobs.JOB_UID_ENV: "metadata.labels['batch.kubernetes.io/controller-uid']",
        jobs.LEGACY_JOB_UID_ENV: "metadata.labels['controller-uid']",
    }
