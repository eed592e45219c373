"""Typed run results: what a retention or integrity shard hands back, what a run merges to, and the active run.

One key style everywhere (camelCase, as status is spelled): the result ConfigMap a Job writes, the
`status.<kind>.lastResult` block and the CLI's `--json` report are the same models. Results are read
leniently (unknown keys are dropped, snake_case keys are accepted), because a Job started by the
previous operator version may hand its result to this one after an upgrade.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from payload_operator.api.base import ApiModel
from payload_operator.api.spec import IntegrityMode, RunnerType

GIB = 1 << 30


class RunOutcome(StrEnum):
    """How a run ended (also the condition reason and `recentRuns[].result`)."""

    SUCCEEDED = "Succeeded"
    PARTIALLY_FAILED = "PartiallyFailed"
    FAILED = "Failed"


class ResultModel(ApiModel):
    """Base of result models: unknown keys dropped, so a result from another operator version still reads."""

    model_config = ConfigDict(extra="ignore")


class WalkCounts(ResultModel):
    """What the history walk read (the failed pages' texts stay out: they are unbounded)."""

    namespaces: int = 0
    """Durable Workflow namespaces walked (integrity only)."""
    workflows: int = 0
    """Workflows listed."""
    runs: int = 0
    """Runs whose histories were read."""
    pages: int = 0
    """History pages read."""
    failed_pages: int = 0
    """History pages that could not be read."""
    inline_over_threshold: int = 0
    """Payloads above the threshold that the server returned inline (references not observable)."""


# ---- retention ----


class PassesStatus(StrEnum):
    """How the server's retention passes went."""

    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    DRY_RUN = "dry_run"
    DISABLED = "disabled"
    OTHER_SHARD = "other_shard"
    """Only shard 0 drives the passes."""


class ServerPassesResult(ResultModel):
    """The server's own retention passes (and Gen B upload cleanup) over every namespace."""

    status: PassesStatus = PassesStatus.DISABLED
    """ok, partial, failed, dry_run, disabled, or other_shard (this shard did not drive them)."""
    passes: int = 0
    """Retention passes posted."""
    runs_pruned: int = 0
    """Runs the server pruned."""
    runs_skipped: int = 0
    """Runs the server skipped (reasons kept)."""
    runs_failed: int = 0
    """Runs the server failed to prune."""
    payloads_deleted: int = 0
    """External payloads the server deleted with the pruned runs."""
    expired_remaining: int = 0
    """Expired runs left when the passes stopped."""
    cleanup_passes: int = 0
    """Gen B upload cleanup passes posted."""
    cleanup_references_deleted: int = 0
    """Upload references the cleanup deleted."""
    cleanup_objects_deleted: int = 0
    """Backing objects the cleanup deleted."""
    cleanup_blocked: int = 0
    """Uploads the cleanup could not delete."""
    cleanup_backlog: int = 0
    """Expired unclaimed uploads left."""
    budget_exhausted: Annotated[list[str], Field(max_length=10)] = []
    """Namespaces where the pass budget ran out (the next run goes on)."""
    errors: Annotated[list[str], Field(max_length=10)] = []
    """Failed server calls, per namespace."""
    reasons: Annotated[list[str], Field(max_length=10)] = []
    """Skip and error reasons the server gave (`namespace/run: outcome: reason`)."""


class AuditStatus(StrEnum):
    """How the orphan audit went."""

    OK = "ok"
    SKIPPED = "skipped"
    """Unsafe to judge (references not observable, an incomplete walk): nothing is called an orphan."""
    FAILED = "failed"
    DISABLED = "disabled"


class OrphanAuditResult(ResultModel):
    """The orphan audit: what the listing under `<root>/avro/` holds, and what was deleted."""

    status: AuditStatus = AuditStatus.DISABLED
    """ok, skipped, failed or disabled."""
    reason: str = ""
    """Why the audit was skipped or failed, or why deletion was refused."""
    deletion: str = ""
    """What deletion did: not requested, nothing to delete, done, partial, or refused: why."""
    references: int = 0
    """References the walk found (this shard's keys)."""
    invalid_references: int = 0
    """References outside the configured storage, never followed."""
    listed: int = 0
    """Objects listed."""
    referenced: int = 0
    """Listed objects a history references."""
    young: int = 0
    """Unreferenced objects inside the grace period (minAge)."""
    foreign: int = 0
    """Listed keys that are not payload keys (never touched)."""
    candidates: int = 0
    """Orphan candidates: unreferenced and older than minAge (0 unless the audit is ok)."""
    candidate_bytes: int = 0
    """Bytes of the orphan candidates."""
    deleted: int = 0
    """Candidates deleted (mode Delete)."""
    delete_failed: int = 0
    """Candidates whose deletion failed."""
    spared: int = 0
    """Candidates spared at delete time (referenced again, or rewritten within minAge)."""
    sample: Annotated[list[str], Field(max_length=10)] = []
    """The first few candidate keys."""
    failures: Annotated[list[str], Field(max_length=10)] = []
    """The first few deletion failures."""
    seconds: dict[str, float] = {}
    """Seconds per phase (mark, sweep, delete)."""
    walk: WalkCounts = WalkCounts()
    """What the history walk read."""


class UsageFigure(ResultModel):
    """Objects and bytes of one class of stored objects."""

    objects: int = 0
    """How many objects."""
    bytes: int = 0
    """Their total size in bytes."""


class UsageClass(StrEnum):
    """The classes storage usage is counted in (the `class` label of the usage metrics)."""

    REFERENCED = "referenced"
    YOUNG = "young"
    CANDIDATE = "candidate"
    FOREIGN = "foreign"
    TEMPORARY = "temporary"
    QUARANTINED = "quarantined"


class StorageUsage(ResultModel):
    """What the payload storage holds, by class, as one retention run listed it. A class the run did not
    measure is absent: the `<root>/avro/` classes come from a completed orphan audit listing, temporary and
    quarantined from listing those prefixes (shard 0)."""

    referenced: UsageFigure | None = None
    """Payload objects under `<root>/avro/` that a history references."""
    young: UsageFigure | None = None
    """Unreferenced payload objects inside the grace period."""
    candidate: UsageFigure | None = None
    """Orphan candidates (as listed, before any deletion)."""
    foreign: UsageFigure | None = None
    """Keys under `<root>/avro/` that are not payload keys."""
    temporary: UsageFigure | None = None
    """Objects under the temporary prefixes (`<root>/tmp/` and spec.lifecycle.tmpPrefixes)."""
    quarantined: UsageFigure | None = None
    """Quarantine copies and their notes under `<root>/quarantine/`."""
    price_per_gib_month: float | None = None
    """The configured storage price per GiB and month (operator setting usage.pricePerGiBMonth)."""
    estimated_monthly_cost: float | None = None
    """Every measured byte at that price for a month, in the price's currency."""

    def figures(self) -> dict[UsageClass, UsageFigure]:
        """The measured classes."""
        found = {cls: getattr(self, cls.value) for cls in UsageClass}
        return {cls: figure for cls, figure in found.items() if figure is not None}

    def priced(self, price_per_gib_month: float | None) -> StorageUsage:
        """This usage with the monthly cost estimate at the given price (unchanged without one)."""
        if price_per_gib_month is None:
            return self
        total = sum(figure.bytes for figure in self.figures().values())
        return self.model_copy(
            update={
                "price_per_gib_month": price_per_gib_month,
                "estimated_monthly_cost": round(total / GIB * price_per_gib_month, 4),
            }
        )


def added(first: StorageUsage | None, second: StorageUsage | None) -> StorageUsage | None:
    """Two shards' usage added class by class (a class either measured counts)."""
    if first is None or second is None:
        return first or second
    merged: dict[str, UsageFigure] = {}
    for cls in UsageClass:
        one, two = getattr(first, cls.value), getattr(second, cls.value)
        if one is not None or two is not None:
            one, two = one or UsageFigure(), two or UsageFigure()
            merged[cls.value] = UsageFigure(objects=one.objects + two.objects, bytes=one.bytes + two.bytes)
    return StorageUsage.model_validate(merged)


class RetentionResult(ResultModel):
    """A retention shard's or run's result."""

    shards: int = 1
    """Shards merged into this result."""
    dry_run: bool = False
    """Nothing was pruned or deleted."""
    server_passes: ServerPassesResult | None = None
    """The server's passes (shard 0)."""
    orphans: OrphanAuditResult | None = None
    """The orphan audit."""
    usage: StorageUsage | None = None
    """Storage usage by class, as this run listed it."""
    duration_seconds: float = 0.0
    """Seconds the run took (the slowest shard; in status, the whole run)."""

    def priced(self, price_per_gib_month: float | None) -> RetentionResult:
        """This result with its usage's monthly cost estimate (the price is the operator's setting)."""
        if self.usage is None or price_per_gib_month is None:
            return self
        return self.model_copy(update={"usage": self.usage.priced(price_per_gib_month)})


# ---- integrity ----


class BadEntry(ResultModel):
    """One bad object or reference."""

    key: str
    """The object key, or where an invalid reference was found."""
    problem: str
    """missing, size, hash, unreadable, invalid or malformed."""
    detail: str = ""
    """What was wrong, when there is more to say."""
    expected_sha256: str | None = None
    """size and hash: the sha256 the key names."""
    actual_sha256: str | None = None
    """size and hash: the sha256 of the stored bytes."""
    expected_size: int | None = None
    """size and hash: the size references claim (absent when only the listing knew the object)."""
    actual_size: int | None = None
    """size and hash: the stored size."""


class IntegrityResult(ResultModel):
    """An integrity shard's or run's result: counts, the first bad entries, and notes."""

    mode: IntegrityMode = IntegrityMode.BOTH
    """What was checked: Referenced, Inventory or Both."""
    shards: int = 1
    """Shards merged into this result."""
    sample_ratio: float = 1.0
    """The share of objects checked."""
    references_observable: bool = True
    """Whether the server shows payload references (else referenced objects are not verified)."""
    store_holds_objects: bool | None = None
    """Set when nothing was checked: whether the store holds payload objects at all."""
    references: int = 0
    """Distinct references of this run's keys."""
    checked: int = 0
    """Objects read and hashed."""
    ok: int = 0
    """Objects intact."""
    missing: int = 0
    """Referenced objects that do not exist."""
    corrupt: int = 0
    """Objects whose size or sha256 is wrong."""
    corrupt_size: int = 0
    """Corrupt by size."""
    corrupt_hash: int = 0
    """Corrupt by sha256."""
    unreadable: int = 0
    """Objects that could not be read."""
    invalid_references: int = 0
    """References outside the configured storage, never read."""
    malformed_keys: int = 0
    """Keys under avro/ that are not payload keys."""
    quarantined: int = 0
    """Corrupt objects copied to quarantine."""
    quarantine_failed: int = 0
    """Corrupt objects whose quarantine copy failed."""
    bytes: int = 0
    """Bytes read."""
    walk: WalkCounts | None = None
    """What the history walk read (modes that read references)."""
    bad: Annotated[list[BadEntry], Field(max_length=10)] = []
    """The first bad entries, by severity then key."""
    notes: Annotated[list[str], Field(max_length=20)] = []
    """What could not be verified, and why."""
    duration_seconds: float = 0.0
    """Seconds the run took (the slowest shard; in status, the whole run)."""


# ---- the run as status records it ----


class RunRecord(ResultModel):
    """What every `lastResult` carries beside its kind's result: the run's identity, outcome and Jobs."""

    run_id: str = ""
    """The run's id (the time of the occurrence that started it)."""
    result: RunOutcome = RunOutcome.FAILED
    """Succeeded, PartiallyFailed or Failed."""
    message: Annotated[str, Field(max_length=1024)] = ""
    """The one-line outcome."""
    duration_seconds: float = 0.0
    """Seconds from start to the result in status."""
    job_names: Annotated[list[str], Field(max_length=16)] = []
    """The run's Jobs, when run as Jobs."""
    failed_shards: dict[str, str] = {}
    """Shards without a result, by index, with why."""


class RetentionLastResult(RunRecord, RetentionResult):
    """`status.retention.lastResult`: the run record and the merged retention result."""


class IntegrityLastResult(RunRecord, IntegrityResult):
    """`status.integrity.lastResult`: the run record and the merged integrity result."""


class ActiveRun(ApiModel):
    """The run in progress, with everything a restarted operator needs to finish it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    """The run's id."""
    start_time: datetime
    """When it started."""
    runner: RunnerType
    """Job or InProcess."""
    shards: Annotated[int, Field(ge=1, json_schema_extra={"x-kubernetes-int-or-string": True})]
    """How many shards (the previous version wrote a string; read alike)."""
    deadline: datetime
    """When the operator gives up waiting for results."""
    job_names: Annotated[list[str], Field(max_length=16)] = []
    """The run's Jobs, one per shard (Job runner)."""
    jobs: str | None = None
    """Deprecated: the Job names comma-joined, as the previous version wrote them. Declared so the API server
    keeps it until the operator has read it into jobNames; never written."""

    @field_validator("start_time", "deadline")
    @classmethod
    def _whole_seconds(cls, moment: datetime) -> datetime:
        """Times in status have whole seconds, as Kubernetes writes them (recentRuns repeats startTime)."""
        return moment.replace(microsecond=0)

    @model_validator(mode="before")
    @classmethod
    def _previous_version(cls, value: Any) -> Any:
        """Read `activeRun` as the previous version wrote it too: shards as a string, Job names comma-joined."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        shards = value.get("shards")
        if isinstance(shards, str) and shards.isdigit():
            value["shards"] = int(shards)
        legacy = value.pop("jobs", None)
        if isinstance(legacy, str) and not value.get("jobNames") and not value.get("job_names"):
            value["jobNames"] = [name for name in legacy.split(",") if name]
        return value
