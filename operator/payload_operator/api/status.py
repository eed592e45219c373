"""The observed state the operator reports on each ExternalPayloadStorage.

Status is bounded: counts and a short sample of keys, never candidate lists or secrets. The run blocks
(`retention`, `integrity`) carry typed results (api/results.py); `status.retention.lastResult.usage` is
what the payload storage holds by class, as the last retention run listed it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, field_serializer, field_validator

from payload_operator.api.base import ApiModel
from payload_operator.api.results import ActiveRun, IntegrityLastResult, RetentionLastResult, RunOutcome, RunRecord


class ConditionStatus(StrEnum):
    """Kubernetes condition status."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    """The condition types this operator sets."""

    READY = "Ready"
    POLICY_SYNCED = "PolicySynced"
    STORAGE_REACHABLE = "StorageReachable"
    LIFECYCLE_SYNCED = "LifecycleSynced"
    RETENTION_SUCCEEDED = "RetentionSucceeded"
    INTEGRITY_VERIFIED = "IntegrityVerified"


class Condition(ApiModel):
    """A condition in the Kubernetes shape."""

    type: Annotated[str, Field(max_length=316)]
    """Condition type, e.g. Ready."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, Field(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")]
    """One CamelCase word a program can match."""
    message: Annotated[str, Field(max_length=32768)] = ""
    """A human-readable explanation."""
    observed_generation: Annotated[int, Field(ge=0)] = 0
    """The metadata.generation this condition was computed for."""
    last_transition_time: str
    """When status last changed (RFC 3339)."""


class ServerGeneration(StrEnum):
    """Which generation of external payload storage the server speaks."""

    A = "A"
    B = "B"
    UNKNOWN = "Unknown"


class NamespaceStatus(ApiModel):
    """What the operator last saw in one Durable Workflow namespace."""

    name: str
    """The Durable Workflow namespace."""
    generation: ServerGeneration = ServerGeneration.UNKNOWN
    """A: direct provider references. B: runtime payload transport."""
    storage_status: str = ""
    """The server-reported storage status (available, driver_unavailable, ...), or the probe result."""
    policy_in_sync: bool = False
    """Whether the server's policy equals the desired one."""
    last_sync_time: str | None = None
    """When the policy was last written or confirmed after a change (RFC 3339)."""
    drift_corrections: Annotated[int, Field(ge=0)] = 0
    """How many times a policy changed behind the operator's back was put back."""
    message: str = ""
    """The last problem seen, if any."""


class BoundStorage(ApiModel):
    """The immutable storage identity recorded at first sync, enforced on clusters without CEL."""

    driver: str
    """The driver first synced."""
    bucket: str
    """The bucket, container or directory first synced."""
    prefix: str = ""
    """The prefix first synced (empty: the bucket root)."""


class LifecycleStatus(ApiModel):
    """Lifecycle rules owned on the bucket."""

    owned_rule_ids: Annotated[list[str], Field(max_length=20)] = []
    """IDs (S3), names (Azure) or prefixes (GCS) of the rules this resource owns."""
    foreign_rule_count: Annotated[int, Field(ge=0)] = 0
    """Rules on the bucket that belong to someone else and were preserved."""
    last_verified_time: str | None = None
    """When the rules were last written and read back as desired (a resync that finds them unchanged keeps it)."""
    drift_repairs: Annotated[int, Field(ge=0)] = 0
    """How many times owned rules edited or removed by hand were put back."""
    last_sweep: dict[str, int] | None = None
    """Sweep mode: counts of the last sweep (listed, expired, deleted)."""
    next_sweep_time: str | None = None
    """Sweep mode: when the next sweep is due."""
    last_sweep_time: str | None = None
    """Sweep mode: when the last sweep ran."""


class RunSummary(ApiModel):
    """One finished retention or integrity run."""

    start_time: str
    """When the run started."""
    completion_time: str | None = None
    """When it finished."""
    result: RunOutcome
    """Succeeded, PartiallyFailed or Failed."""
    message: Annotated[str, Field(max_length=1024)] = ""
    """Short outcome."""
    job_names: Annotated[list[str], Field(max_length=16)] = []
    """The Jobs of this run, when run as Jobs."""


class RunBookkeeping(ApiModel):
    """Scheduling state of a recurring run; restarts resume from here."""

    last_result_model: ClassVar[type[RunRecord]] = RunRecord
    """What `last_result` is read and built as (each kind's block names its own)."""

    effective_schedule: str | None = None
    """The schedule in force, with -random schedules resolved for this resource."""
    next_run_time: str | None = None
    """When the next run is due."""
    last_run_time: str | None = None
    """When the last run started."""
    last_successful_time: str | None = None
    """When the last run that succeeded started."""
    last_skipped_time: str | None = None
    """When a due run was last skipped because one was still active."""
    active_run: ActiveRun | None = None
    """The run in progress: id, start time, runner, shards, deadline and Job names."""
    last_result: RunRecord | None = None
    """The last finished run: its record and its kind's merged result (counts, a short sample of keys)."""
    recent_runs: Annotated[list[RunSummary], Field(max_length=10)] = []
    """The latest runs, newest first."""

    @field_validator("active_run", "last_result", mode="wrap")
    @classmethod
    def _unreadable_is_absent(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """An active run or last result this version cannot read is dropped, not the whole schedule."""
        try:
            return handler(value)
        except ValidationError:
            return None

    @field_serializer("last_result")
    def _as_recorded(self, value: RunRecord | None) -> dict[str, Any] | None:
        """Only the fields the run set: a run without any shard result shows its record, not a page of zeros."""
        if value is None:
            return None
        return value.model_dump(by_alias=True, mode="json", exclude_unset=True, exclude_none=True)


class RetentionStatus(RunBookkeeping):
    """`status.retention`: the schedule's state, and the last run's result with storage usage."""

    last_result_model: ClassVar[type[RunRecord]] = RetentionLastResult
    last_result: RetentionLastResult | None = None
    """The last finished run: server passes, orphan audit and storage usage by class (`usage`)."""


class IntegrityStatus(RunBookkeeping):
    """`status.integrity`: the schedule's state and the last run's result."""

    last_result_model: ClassVar[type[RunRecord]] = IntegrityLastResult
    last_result: IntegrityLastResult | None = None
    """The last finished run: counts, the first bad entries and notes."""


class PublishedStatus(ApiModel):
    """Content hashes of the published objects, as their annotation payloads.durable-workflow.io/content-hash
    carries them: a rollout can key on them."""

    content_hash: Annotated[str, Field(max_length=64)]
    """Of everything published (policy ConfigMap and server env Secret): what restartDeployments keys on."""
    policy_hash: Annotated[str, Field(max_length=64)]
    """Of the <name>-policy ConfigMap's data."""
    server_env_hash: Annotated[str | None, Field(max_length=64)] = None
    """Of the <name>-server-env Secret's data (S3 only)."""
    restarted: Annotated[list[Annotated[str, Field(max_length=253)]], Field(max_length=16)] = []
    """The Deployments whose pod template carries content_hash (restarted for it, or already on it)."""


class ExternalPayloadStorageStatus(ApiModel):
    """Observed state of an ExternalPayloadStorage."""

    observed_generation: Annotated[int, Field(ge=0)] = 0
    """The metadata.generation last reconciled."""
    conditions: Annotated[
        list[Condition],
        Field(
            max_length=16, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
        ),
    ] = []
    """Ready summarises PolicySynced, StorageReachable and LifecycleSynced (when spec.lifecycle is set and enabled);
    RetentionSucceeded and IntegrityVerified do not count towards it."""
    bucket: str = ""
    """The bucket, container or directory in use (for printer columns)."""
    bound: BoundStorage | None = None
    """The storage identity first synced."""
    namespaces: Annotated[list[NamespaceStatus], Field(max_length=100)] = []
    """One entry per Durable Workflow namespace."""
    lifecycle: LifecycleStatus | None = None
    """Lifecycle rules, when spec.lifecycle is set."""
    retention: RetentionStatus | None = None
    """Retention runs, when spec.retention is set."""
    integrity: IntegrityStatus | None = None
    """Integrity runs, when spec.integrity is set."""
    published: PublishedStatus | None = None
    """What was last published, by content hash."""


STRING_MAX = 1024
"""Longest string anywhere in status: values a server, store or run hands back are cut to it, and the CRD
refuses longer ones, so no answer can grow a resource's status."""


def bounded(value: Any) -> Any:
    """`value` with every string (and mapping key) in it cut to STRING_MAX characters."""
    if isinstance(value, str):
        return value[:STRING_MAX]
    if isinstance(value, dict):
        return {str(key)[:STRING_MAX]: bounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [bounded(item) for item in value]
    return value
