"""The Kubernetes objects of a run executed as Jobs: names, labels, the Job and its result ConfigMap.

Pure functions, so the manifests are tested without a cluster. Every object carries the resource uid,
run kind, run id and shard as labels: the operator finds a run's Jobs and results by label query, and
a run id derived from its schedule occurrence makes creating the same run twice a harmless conflict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from payload_operator.api.spec import API_GROUP, Driver, RunnerResources
from payload_operator.manifest import Resource
from payload_operator.runs.base import Shard

RESOURCE_UID = f"{API_GROUP}/resource-uid"
RESOURCE_NAME = f"{API_GROUP}/resource"
RUN_KIND = f"{API_GROUP}/run-kind"
RUN_ID = f"{API_GROUP}/run-id"
SHARD = f"{API_GROUP}/shard"
COMPONENT = "app.kubernetes.io/component"
MANAGED_BY = {"app.kubernetes.io/managed-by": "payload-operator"}
RESULT_KEY = "result.json"
RESULT_COMPONENT = "run-result"
JOB_COMPONENT = "run"
MAX_LABEL = 63
NAME_BUDGET = 30  # name + "-" + kind (9) + "-" + run id (15) + "-" + shard (2) stays within 63
TMP_VOLUME = "tmp"
PAYLOAD_VOLUME = "payloads"


def run_id_for(occurrence: datetime) -> str:
    """The run id of a schedule occurrence: stable, so a retried start finds the run it already made."""
    return occurrence.astimezone(UTC).strftime("%Y%m%d-%H%M%S")


def _trimmed(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending on a letter or digit (label and name rule)."""
    return re.sub(r"[^A-Za-z0-9]+$", "", text[:limit]) or "x"


def job_name(resource: Resource, kind: str, run_id: str, shard: Shard) -> str:
    """`<name>-<kind>-<run id>-<shard>`, short enough for the job-name label Kubernetes adds to pods.

    A long name is cut and completed with the resource's short uid, so two resources whose names
    share a beginning never share a Job.
    """
    name = resource.name
    if len(name) > NAME_BUDGET:
        name = f"{_trimmed(name, NAME_BUDGET - len(resource.short_uid) - 1)}-{resource.short_uid}"
    return f"{name}-{kind}-{run_id}-{shard.index}"


def result_name(job: str) -> str:
    """The ConfigMap a shard's Job writes its result into."""
    return f"{job}-result"


def selector(resource_uid: str, kind: str, run_id: str | None = None) -> str:
    """Label selector of a resource's objects of one kind, optionally of one run."""
    terms = {RESOURCE_UID: resource_uid, RUN_KIND: kind} | ({RUN_ID: run_id} if run_id else {})
    return ",".join(f"{key}={value}" for key, value in terms.items())


def run_labels(resource: Resource, kind: str, run_id: str, shard: Shard, component: str) -> dict[str, str]:
    """Labels of every object of one shard of one run."""
    return MANAGED_BY | {
        COMPONENT: component,
        RESOURCE_NAME: _trimmed(resource.name, MAX_LABEL),
        RESOURCE_UID: resource.uid,
        RUN_KIND: kind,
        RUN_ID: run_id,
        SHARD: str(shard.index),
    }


def run_command(kind: str, resource: Resource, run_id: str, shard: Shard) -> list[str]:
    """The argv a shard's pod runs; tests run the same argv outside the cluster."""
    return [
        "payload-operator",
        kind,
        "--resource",
        f"{resource.namespace}/{resource.name}",
        "--shard",
        f"{shard.index}/{shard.count}",
        "--run-id",
        run_id,
        "--report",
        "configmap",
    ]


def _resources(spec: RunnerResources) -> dict[str, dict[str, str]]:
    return {
        section: values.model_dump(exclude_none=True)
        for section, values in (("requests", spec.requests), ("limits", spec.limits))
        if values is not None and values.model_dump(exclude_none=True)
    }


def _volumes(resource: Resource) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A writable /tmp (the audit spills to disk) and, for the local driver, the payload directory."""
    volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    local = resource.spec.local
    if resource.spec.driver is Driver.LOCAL and local is not None:
        volumes.append({"name": PAYLOAD_VOLUME, "hostPath": {"path": local.path, "type": "Directory"}})
        mounts.append({"name": PAYLOAD_VOLUME, "mountPath": local.path})
    return volumes, mounts


def job_manifest(
    resource: Resource,
    owner: Mapping[str, Any],
    kind: str,
    run_id: str,
    shard: Shard,
    *,
    image: str,
    service_account: str,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One shard's Job: never retried, bounded in time, owned by the resource; `env` adds variables
    (the operator's tenant policy, so the Job's command judges the resource alike)."""
    runner = resource.spec.runner
    labels = run_labels(resource, kind, run_id, shard, JOB_COMPONENT)
    volumes, mounts = _volumes(resource)
    container: dict[str, Any] = {
        "name": kind,
        "image": image,
        "command": run_command(kind, resource, run_id, shard),
        "env": [
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            *({"name": k, "value": v} for k, v in sorted((env or {}).items())),
        ],
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    resources = _resources(runner.resources)
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(resource, kind, run_id, shard),
            "namespace": resource.namespace,
            "labels": labels,
            "ownerReferences": [dict(owner)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": runner.active_deadline_seconds,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": service_account,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def job_owner_reference(job: Mapping[str, Any]) -> dict[str, Any]:
    """An owner reference to a Job, so a shard's result goes away with its Job."""
    meta = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"]}


def result_configmap(
    resource: Resource,
    kind: str,
    run_id: str,
    shard: Shard,
    *,
    owner: Mapping[str, Any],
    envelope: Mapping[str, Any],
) -> dict[str, Any]:
    """The ConfigMap holding one shard's result envelope."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": result_name(job_name(resource, kind, run_id, shard)),
            "namespace": resource.namespace,
            "labels": run_labels(resource, kind, run_id, shard, RESULT_COMPONENT),
            "ownerReferences": [dict(owner)],
        },
        "data": {RESULT_KEY: json.dumps(envelope, sort_keys=True)},
    }
