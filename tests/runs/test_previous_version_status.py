"""An upgrade mid-run: the operator finishes a run the previous version started, from what that version wrote.

The previous version recorded `activeRun` as strings (shards "1", Job names comma-joined in `jobs`) and its
Jobs hand results over in snake_case. After `helm upgrade` the new CRD must still accept that status, and the
new operator must read both, collect the run and report the old Job's numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devkit.cluster import Cluster
from devkit.waiting import wait_for

from payload_operator.api.resource import resource_from_body
from payload_operator.core.run_context import Shard
from payload_operator.scheduler import job_manifest as job_objects
from tests.support.operator_fixtures import GROUP_PATH, apply, get_eps, wait_condition

Deploy = Callable[..., dict[str, Any]]

SNAKE_CASE_RESULT = {  # a shard result as the previous version's Job wrote it
    "shard": "0/1",
    "dry_run": False,
    "server_passes": {"status": "ok", "passes": 1, "runs_pruned": 2, "payloads_deleted": 2, "reasons": []},
    "orphans": {
        "status": "ok",
        "deletion": "not requested",
        "listed": 9,
        "referenced": 5,
        "young": 1,
        "candidates": 3,
        "candidate_bytes": 3072,
        "walk": {"workflows": 4, "runs": 4, "pages": 4, "failed_pages": 0, "inline_over_threshold": 0},
    },
    "duration_seconds": 1.5,
}


def test_a_run_started_by_the_previous_version_is_finished_from_its_status_and_result(
    deploy: Deploy, crd: Cluster, kube_namespace: str
) -> None:
    deploy(retention={"schedule": "@daily"}, runner={"type": "Job", "activeDeadlineSeconds": 900})
    selector = "payloads.durable-workflow.io/run-kind=retention"
    jobs_path = f"/apis/batch/v1/namespaces/{kube_namespace}/jobs?labelSelector={selector}"
    (job,) = wait_for(lambda: crd.api("GET", jobs_path)["items"], timeout=60, message="the first run's Job")
    name, run_id = job["metadata"]["name"], job["metadata"]["labels"][job_objects.RUN_ID]
    active = wait_for(
        lambda: get_eps(crd, kube_namespace, "payloads")["status"]["retention"]["activeRun"],
        timeout=60,
        message="the run recorded as active",
    )

    previous = {  # the same run, as the previous version recorded it
        "id": run_id,
        "startTime": active["startTime"],
        "runner": "Job",
        "shards": "1",
        "deadline": active["deadline"],
        "jobs": name,
        "jobNames": None,
    }
    status = {"status": {"retention": {"activeRun": previous}}}
    crd.api(
        "PATCH",
        f"{GROUP_PATH}/namespaces/{kube_namespace}/externalpayloadstorages/payloads/status",
        status,
        content_type="application/merge-patch+json",
    )
    envelope = {"shard": "0/1", "ok": True, "result": SNAKE_CASE_RESULT}
    resource = resource_from_body(get_eps(crd, kube_namespace, "payloads"))
    owner = job_objects.job_owner_reference(name, job["metadata"]["uid"])
    apply(
        crd,
        job_objects.result_configmap(resource, "retention", run_id, Shard(0, 1), owner=owner, envelope=envelope),
    )

    body = wait_condition(crd, kube_namespace, "payloads", "RetentionSucceeded", "True", reason="Succeeded")
    block = body["status"]["retention"]
    assert "activeRun" not in block
    last = block["lastResult"]
    assert (last["runId"], last["result"], last["jobNames"]) == (run_id, "Succeeded", [name])
    assert last["serverPasses"]["runsPruned"] == 2
    assert (last["orphans"]["candidates"], last["orphans"]["candidateBytes"]) == (3, 3072)
    assert last["orphans"]["walk"]["failedPages"] == 0
    assert "server pruned 2 runs" in last["message"], json.dumps(last)
