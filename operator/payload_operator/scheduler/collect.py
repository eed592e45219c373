"""Runs executed as Kubernetes Jobs: create a run's Jobs, read its shard results back, tidy up.

A shard's Job writes its result envelope into a ConfigMap before it exits, so Jobs are read before
ConfigMaps: a Job seen finished has its result visible in the listing that follows. A run is over
when every shard reported, or its Job failed or vanished, or the run's deadline passed.

Labels only find candidates: anyone who may write ConfigMaps in the namespace could write one with the
run's labels. A result counts only when its ConfigMap has the shard Job's name-derived name and is
owned by that Job's UID (known only to those who may read the run's Jobs and pods, which the runner
account may not); anything else is ignored with a warning, and so is an envelope off its typed schema.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payload_operator.adapters.kube import KubeClient, KubeConflict, KubeError, KubeForbidden, owned_by
from payload_operator.api.resource import Resource
from payload_operator.api.results import ActiveRun
from payload_operator.api.spec import RunnerResources
from payload_operator.core.run_context import Shard
from payload_operator.core.timefmt import parse_time
from payload_operator.scheduler import job_manifest as jobs
from payload_operator.scheduler.results import R, ShardOutcome, failed, parse_envelope

log = logging.getLogger(__name__)


async def start_jobs(
    kube: KubeClient,
    resource: Resource,
    owner: Mapping[str, Any],
    kind: str,
    run_id: str,
    *,
    image: str,
    service_account: str,
    env: Mapping[str, str] | None = None,
    placement: Mapping[str, Any] | None = None,
    default_resources: RunnerResources | None = None,
) -> tuple[str, ...]:
    """Create one Job per shard (see jobs.job_manifest for the settings); Jobs that already exist belong to
    this same run and are kept."""
    count = resource.spec.runner.shards
    created: list[str] = []
    names: list[str] = []
    try:
        for index in range(count):
            manifest = jobs.job_manifest(
                resource,
                owner,
                kind,
                run_id,
                Shard(index, count),
                image=image,
                service_account=service_account,
                env=env,
                placement=placement,
                default_resources=default_resources,
            )
            names.append(manifest["metadata"]["name"])
            try:
                await kube.create("batch/v1", "jobs", resource.namespace, manifest)
            except KubeConflict:
                continue  # a retried start of the same run
            except KubeForbidden as exc:
                raise KubeForbidden(f"{exc} (the chart grants Job rights only in runner.namespaces)", 403) from exc
            created.append(names[-1])
    except KubeError:
        for name in created:  # a run is all of its shards or nothing
            await _delete_quietly(kube, "batch/v1", "jobs", resource.namespace, name)
        raise
    return tuple(names)


@dataclass(frozen=True)
class Observation:
    """A run's Jobs (by name) and the result envelopes its shards wrote (by shard index)."""

    jobs: dict[str, dict[str, Any]]
    results: dict[int, str]


async def observe(
    kube: KubeClient, namespace: str, resource_uid: str, kind: str, run_id: str, *, job_names: Sequence[str]
) -> Observation:
    """Read a run's Jobs, then its result ConfigMaps (in that order, see the module docstring).

    Only the Jobs the run created count (`job_names`, as status recorded them, owned by the resource): a
    Job someone else made with the run's labels, and a result owned by it, are not the run's.
    """
    selector = jobs.selector(resource_uid, kind, run_id)
    found = [
        job
        for job in await kube.list("batch/v1", "jobs", namespace, selector)
        if job.get("metadata", {}).get("name") in job_names and owned_by(job, resource_uid)
    ]
    configmaps = await kube.list("v1", "configmaps", namespace, selector)
    results: dict[int, str] = {}
    for configmap in authentic_results(found, configmaps):
        shard = str(configmap["metadata"]["labels"][jobs.SHARD])
        results[int(shard)] = configmap["data"][jobs.RESULT_KEY]
    return Observation({str(j.get("metadata", {}).get("name")): j for j in found}, results)


def authentic_results(run_jobs: list[dict[str, Any]], configmaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The result ConfigMaps written for the run's own Jobs; every other candidate is warned about once."""
    by_shard = {
        str((job.get("metadata", {}).get("labels") or {}).get(jobs.SHARD)): job.get("metadata", {}) for job in run_jobs
    }
    accepted = []
    for configmap in configmaps:
        meta = configmap.get("metadata", {})
        shard = str((meta.get("labels") or {}).get(jobs.SHARD, ""))
        job = by_shard.get(shard)
        text = (configmap.get("data") or {}).get(jobs.RESULT_KEY)
        if job is None or not shard.isdigit() or not isinstance(text, str):
            problem = "no Job of this run has its shard" if job is None else "no result in it"
        elif meta.get("name") != jobs.result_name(str(job.get("name"))):
            problem = f"its name is not {jobs.result_name(str(job.get('name')))}"
        elif not owned_by(configmap, str(job.get("uid"))):
            problem = f"it is not owned by Job {job.get('name')} (uid {job.get('uid')})"
        else:
            accepted.append(configmap)
            continue
        _warn_once(meta, problem)
    return accepted


_warned: set[str] = set()
MAX_WARNED = 4096


def _warn_once(meta: Mapping[str, Any], problem: str) -> None:
    uid = str(meta.get("uid"))
    if uid in _warned:
        return
    if len(_warned) >= MAX_WARNED:
        _warned.clear()
    _warned.add(uid)
    log.warning(
        "ignoring ConfigMap %s/%s labelled as a run result: %s", meta.get("namespace"), meta.get("name"), problem
    )


def job_state(job: Mapping[str, Any]) -> tuple[str, str]:
    """("Complete" | "Failed" | "", reason) from a Job's conditions."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"]), str(condition.get("reason") or condition["type"])
    return "", ""


def assess(run: ActiveRun, observed: Observation, now: datetime, model: type[R]) -> dict[int, ShardOutcome[R]] | None:
    """Every shard's outcome once the run is over, else None (still running); results are read as `model`."""
    outcomes = {
        i: parse_envelope(model, i, run.shards, text) for i, text in observed.results.items() if 0 <= i < run.shards
    }
    for index, name in enumerate(run.job_names):
        if index in outcomes:
            continue
        job = observed.jobs.get(name)
        state, reason = job_state(job) if job is not None else ("", "")
        if job is None:
            outcomes[index] = failed(index, f"Job {name} is gone")
        elif state == "Failed":
            outcomes[index] = failed(index, f"Job {name} failed: {reason}")
        elif state == "Complete":
            outcomes[index] = failed(index, f"Job {name} finished without a result")
    if len(outcomes) < run.shards and now >= run.deadline:
        for index in range(run.shards):
            outcomes.setdefault(index, failed(index, "no result before the deadline (activeDeadlineSeconds)"))
    return outcomes if len(outcomes) >= run.shards else None


async def tidy(
    kube: KubeClient,
    namespace: str,
    resource_uid: str,
    kind: str,
    run: ActiveRun,
    *,
    history_limit: int,
    stop_unfinished: bool,
) -> None:
    """After a run: drop its result ConfigMaps, stop its leftover Jobs if asked, keep `history_limit` Jobs.

    Best effort: a failure here is logged and the next run's tidy-up tries again.
    """
    try:
        labelled = await kube.list("batch/v1", "jobs", namespace, jobs.selector(resource_uid, kind))
        every = [job for job in labelled if owned_by(job, resource_uid)]  # never someone else's Job
        own = [job for job in every if job["metadata"]["name"] in run.job_names]
        candidates = await kube.list("v1", "configmaps", namespace, jobs.selector(resource_uid, kind, run.id))
        for configmap in authentic_results(own, candidates):  # never delete what someone else wrote
            await _delete_quietly(kube, "v1", "configmaps", namespace, configmap["metadata"]["name"])
        if stop_unfinished:
            for job in own:
                if not job_state(job)[0]:
                    await _delete_quietly(kube, "batch/v1", "jobs", namespace, job["metadata"]["name"])
        for job in expired_jobs(every, history_limit):
            await _delete_quietly(kube, "batch/v1", "jobs", namespace, job["metadata"]["name"])
    except KubeError as exc:
        log.warning("tidying up after %s run %s: %s", kind, run.id, exc)


def expired_jobs(finished: list[dict[str, Any]], history_limit: int) -> list[dict[str, Any]]:
    """The Jobs beyond the newest `history_limit` (newest by creation time, then name)."""

    def age(job: dict[str, Any]) -> tuple[str, str]:
        meta = job.get("metadata", {})
        created = parse_time(meta.get("creationTimestamp"))
        return (created.isoformat() if created else "", str(meta.get("name", "")))

    return sorted(finished, key=age, reverse=True)[history_limit:]


async def _delete_quietly(kube: KubeClient, api_version: str, plural: str, namespace: str, name: str) -> None:
    try:
        await kube.delete(api_version, plural, namespace, name)
    except KubeError as exc:
        log.warning("deleting %s %s/%s: %s", plural, namespace, name, exc)
