"""The Kubernetes objects of a run executed as Jobs: names, labels, the Job and its result ConfigMap.

Pure functions, so the manifests are tested without a cluster. Every object carries the resource uid,
run kind, run id and shard as labels: the operator finds a run's Jobs and results by label query, and
a run id derived from its schedule occurrence makes creating the same run twice a harmless conflict.
Labels are only for finding: a result counts only when its ConfigMap is owned by the shard's Job (by
UID, which the pod learns from the downward API, so the runner account needs no right to read Jobs).

Job pods run as an explicit non-root UID with requests and limits (the resource's, else the operator's
defaults) and a size-limited /tmp, so one resource's run cannot take a node's memory or disk. Where they
run and which pull Secrets they use are the operator's settings (chart values runner.*), never the tenant's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from payload_operator.api.resource import Resource
from payload_operator.api.spec import API_GROUP, Driver, RunnerResources
from payload_operator.core.run_context import Shard

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
TMP_SIZE_LIMIT = "2Gi"
"""The orphan audit spills key lists to /tmp: bounded, so a huge bucket evicts the pod instead of filling a node."""
PAYLOAD_VOLUME = "payloads"
RUNNER_UID = 65532
"""The image's non-root user (Dockerfile), stated explicitly so no image default decides."""
DEFAULT_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
"""Built in: for a resource without `spec.runner.resources` when the operator sets no defaults of its own."""
PLACEMENT_FIELDS = ("nodeSelector", "tolerations", "affinity", "imagePullSecrets")
"""The pod spec fields a placement may set; nothing else of the pod comes from outside this module."""
JOB_UID_ENV = "PAYLOAD_OPERATOR_JOB_UID"
LEGACY_JOB_UID_ENV = "PAYLOAD_OPERATOR_JOB_UID_LEGACY"
_JOB_UID_LABELS = {JOB_UID_ENV: "batch.kubernetes.io/controller-uid", LEGACY_JOB_UID_ENV: "controller-uid"}
"""Labels the Job controller puts on its pods (1.27+, and before): the pod's way to know its Job."""


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


def _quantities(resources: RunnerResources) -> tuple[dict[str, str], dict[str, str]]:
    requests = resources.requests.model_dump(exclude_none=True) if resources.requests is not None else {}
    limits = resources.limits.model_dump(exclude_none=True) if resources.limits is not None else {}
    return requests, limits


def _resources(spec: RunnerResources, defaults: RunnerResources) -> dict[str, dict[str, str]]:
    """The resource's requests and limits, else the operator's `defaults`, else the built-in ones; a pod is
    never left without a memory limit.

    Limits alone are kept (Kubernetes makes them the requests too); without a memory limit, the memory
    request is the limit, or else the defaults' (or the built-in) memory limit.
    """
    builtin = ({**DEFAULT_RESOURCES["requests"]}, {**DEFAULT_RESOURCES["limits"]})
    requests, limits = next((q for q in (_quantities(spec), _quantities(defaults)) if any(q)), builtin)
    if "memory" not in limits:
        fallback = _quantities(defaults)[1].get("memory", DEFAULT_RESOURCES["limits"]["memory"])
        limits["memory"] = requests.get("memory", fallback)
    return {"requests": requests, "limits": limits} if requests else {"limits": limits}


def _volumes(resource: Resource) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A size-limited writable /tmp (the audit spills to disk) and, for the local driver, the payload directory."""
    volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}}]
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
    placement: Mapping[str, Any] | None = None,
    default_resources: RunnerResources | None = None,
) -> dict[str, Any]:
    """One shard's Job: never retried, bounded in time, owned by the resource; `env` adds variables
    (the operator's tenant policy, so the Job's command judges the resource alike), `placement` the pod's
    nodeSelector, tolerations, affinity and imagePullSecrets, `default_resources` the requests and limits of
    a resource that sets none (all three the operator's settings, OperatorConfig)."""
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
            *(
                {"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{label}']"}}}
                for name, label in _JOB_UID_LABELS.items()
            ),
        ],
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    container["resources"] = _resources(runner.resources, default_resources or RunnerResources())
    placed = {key: placement[key] for key in PLACEMENT_FIELDS if placement and placement.get(key)}
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
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUNNER_UID,
                        "runAsGroup": RUNNER_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                    **placed,
                },
            },
        },
    }


def job_owner_reference(name: str, uid: str) -> dict[str, Any]:
    """An owner reference to a Job, so a shard's result goes away with its Job (and proves whose it is)."""
    return {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid}


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
