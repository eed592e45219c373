"""The desired state of an ExternalPayloadStorage, as users write it.

Every field carries its own docstring (it becomes the CRD description) and its bounds, so
`kubectl apply` refuses bad input before the operator ever sees it. Cross-field rules live in
`CEL_RULES` below, rendered as `x-kubernetes-validations` and also enforced in the operator
(`payload_operator.api.rules`) for clusters that predate CEL.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, cast

from pydantic import ConfigDict, Field, JsonValue, model_validator

from payload_operator.api.base import ApiModel

API_GROUP = "payloads.durable-workflow.io"
API_VERSION = "v1alpha1"
KIND = "ExternalPayloadStorage"
PLURAL = "externalpayloadstorages"
SINGULAR = "externalpayloadstorage"
SHORT_NAMES = ("eps",)

# A path segment of the object key prefix: the characters the SDK and the server encode identically,
# never "." or ".." (RE2 has no lookahead, hence the three alternatives).
_SEGMENT = r"(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*|\.[A-Za-z0-9_~-][A-Za-z0-9._~-]*|\.\.[A-Za-z0-9._~-]+)"
PREFIX_PATTERN = rf"^(?:{_SEGMENT}(?:/{_SEGMENT})*)?$"
TMP_PREFIX_PATTERN = rf"^{_SEGMENT}/(?:{_SEGMENT}/)*$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# Never "." or "..": the name is a path segment of the server's routes.
DW_NAMESPACE_PATTERN = r"^(?:[a-zA-Z0-9_-]|\.[a-zA-Z0-9_-]|\.\.[a-zA-Z0-9._-])[a-zA-Z0-9._-]{0,127}$"
SCHEDULE_PATTERN = (
    r"^(@(hourly|daily|weekly|monthly|yearly|annually|midnight)(-random)?"
    r"|[0-9*/,?LW#-]+( [0-9A-Za-z*/,?LW#-]+){4})$"
)
DURATION_PATTERN = r"^([0-9]{1,6}(s|m|h|d))+$"
# No userinfo (user@host), query or fragment: the operator appends /api/... paths and sends credentials.
_URL = r"https?://[^\s/$.?#@\\][^\s/?#@\\]*(?:/[^\s?#\\]*)?"
URL_PATTERN = rf"^{_URL}$"
OPTIONAL_URL_PATTERN = rf"^$|^{_URL}$"
# An absolute directory: segments without control characters, never "." or "..", no empty segment.
_PATH_SEGMENT = (
    r"(?:[^/.\x00-\x1f\x7f][^/\x00-\x1f\x7f]*|\.[^/.\x00-\x1f\x7f][^/\x00-\x1f\x7f]*|\.\.[^/\x00-\x1f\x7f]+)"
)
LOCAL_PATH_PATTERN = rf"^(?:/{_PATH_SEGMENT})+/?$"
# Payload objects live under avro/ and quarantine/ of some root: no expiration ever reaches such a segment.
PAYLOAD_SEGMENT_PATTERN = r"(^|/)(avro|quarantine)(/|$)"
AZURE_GUID_PATTERN = r"^[0-9a-fA-F-]{36}$"


class Driver(StrEnum):
    """Where payload bytes live."""

    S3 = "s3"
    GCS = "gcs"
    AZURE = "azure"
    LOCAL = "local"


class ManagementPolicy(StrEnum):
    """Whether the operator may change things or only reports."""

    MANAGE = "Manage"
    OBSERVE = "Observe"


class DeletionPolicy(StrEnum):
    """What deleting the resource does to the server policy and owned rules (never to payloads)."""

    RETAIN = "Retain"
    DELETE = "Delete"


SecretName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
SecretKey = Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN)]


class TokenSecretRef(ApiModel):
    """A key of a Secret in the resource's namespace holding the server's admin-role bearer token."""

    name: SecretName
    """Name of the Secret, in the same namespace as the resource."""
    key: SecretKey = "token"
    """Key inside the Secret whose value is the token."""


class CaBundleSource(StrEnum):
    """Where a CA bundle is kept."""

    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"


class CaBundleRef(ApiModel):
    """A key of a ConfigMap or Secret in the resource's namespace holding PEM CA certificates."""

    kind: CaBundleSource = CaBundleSource.CONFIG_MAP
    """ConfigMap (CA certificates are not secret) or Secret."""
    name: SecretName
    """Name of the ConfigMap or Secret, in the same namespace as the resource."""
    key: SecretKey = "ca.crt"
    """Key whose value is the PEM bundle."""


class ServerSpec(ApiModel):
    """The Durable Workflow server whose namespaces use this storage."""

    url: Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)]
    """Base URL of the server, http or https, without the /api suffix."""
    token_secret_ref: TokenSecretRef
    """Admin-role bearer token used for the control-plane calls."""
    namespaces: Annotated[
        list[
            Annotated[
                str,
                Field(
                    min_length=1,
                    max_length=128,
                    pattern=DW_NAMESPACE_PATTERN,
                    description="A Durable Workflow namespace.",
                ),
            ]
        ],
        Field(min_length=1, max_length=100, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ]
    """Durable Workflow namespaces that get the policy (1 to 100, each unique)."""
    resync_interval_seconds: Annotated[int, Field(ge=10, le=86400)] = 300
    """How often the operator re-reads the server policy to find and repair drift."""
    request_timeout_seconds: Annotated[int, Field(ge=1, le=300)] = 15
    """Timeout of one HTTP call to the server."""
    ca_bundle_ref: CaBundleRef | None = None
    """CA certificates the server's https certificate must chain to (a private CA); omit for the system's."""
    storage_disk: Annotated[str, Field(max_length=255, pattern=r"^$|^[A-Za-z0-9._-]+$")] = ""
    """Filesystem disk of the server's configuration sent as config.disk for s3, gcs and azure (not local).
    Empty picks the default for the driver: external-payload-s3, external-payload-gcs or
    external-payload-azure. Gen A servers build a provider driver only from a named disk and a bucket;
    Gen B servers use their fixed external-payload-s3 disk for s3 when none is set here, and need a
    disk defined in the server image for gcs and azure."""


class S3CredentialsRef(ApiModel):
    """A Secret with keys accessKeyId, secretAccessKey and optionally sessionToken."""

    name: SecretName
    """Name of the Secret, in the same namespace as the resource."""


class S3Spec(ApiModel):
    """An S3 or S3-compatible bucket."""

    bucket: Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    """Bucket name (immutable)."""
    region: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")] = "us-east-1"
    """Bucket region."""
    endpoint: Annotated[str, Field(max_length=2048, pattern=OPTIONAL_URL_PATTERN)] = ""
    """Custom endpoint for S3-compatible stores; empty for AWS."""
    force_path_style: bool = False
    """Address the bucket in the path instead of the host name (needed by most S3-compatible stores)."""
    credentials_secret_ref: S3CredentialsRef | None = None
    """Static credentials; omit to use the pod's ambient identity (IRSA, instance profile)."""


class GcsCredentialsRef(ApiModel):
    """A key of a Secret holding a service-account JSON key."""

    name: SecretName
    """Name of the Secret, in the same namespace as the resource."""
    key: SecretKey = "service-account.json"
    """Key inside the Secret whose value is the service-account JSON."""


class GcsSpec(ApiModel):
    """A Google Cloud Storage bucket."""

    bucket: Annotated[str, Field(min_length=3, max_length=222, pattern=r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")]
    """Bucket name (immutable)."""
    endpoint: Annotated[str, Field(max_length=2048, pattern=OPTIONAL_URL_PATTERN)] = ""
    """Custom API endpoint (private endpoints, emulators); empty for the public one."""
    credentials_secret_ref: GcsCredentialsRef | None = None
    """Service-account key; omit to use Workload Identity."""


class AzureCredentialsRef(ApiModel):
    """A Secret with key connectionString (data plane) and optionally tenantId, clientId, clientSecret."""

    name: SecretName
    """Name of the Secret, in the same namespace as the resource."""


class AzureManagementPolicySpec(ApiModel):
    """The storage account whose lifecycle management policy holds the expiration rules."""

    subscription_id: Annotated[str, Field(max_length=36, pattern=AZURE_GUID_PATTERN)]
    """Azure subscription id (a GUID)."""
    resource_group: Annotated[str, Field(min_length=1, max_length=90, pattern=r"^[-\w._()]+$")]
    """Resource group of the storage account."""
    account_name: Annotated[str, Field(min_length=3, max_length=24, pattern=r"^[a-z0-9]+$")]
    """Storage account name."""
    endpoint: Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)] = "https://management.azure.com"
    """Azure Resource Manager endpoint (sovereign clouds differ)."""


class AzureSpec(ApiModel):
    """An Azure Blob Storage container."""

    container: Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9]|-[a-z0-9])+$")]
    """Container name (immutable)."""
    account_url: Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)]
    """Blob service URL of the storage account."""
    credentials_secret_ref: AzureCredentialsRef | None = None
    """Connection string and, for the management policy, a service principal."""
    management_policy: AzureManagementPolicySpec | None = None
    """Set to let the operator keep lifecycle rules in the account's management policy."""


class LocalSpec(ApiModel):
    """A directory shared by the server and workers (single-node setups)."""

    path: Annotated[str, Field(min_length=2, max_length=1024, pattern=LOCAL_PATH_PATTERN)]
    """Absolute path of the payload root, as the server and workers see it (immutable); it must lie under
    a root the operator's admin allows (tenantPolicy.localRoots)."""


class LifecycleMode(StrEnum):
    """How temporary objects expire."""

    NATIVE = "Native"
    SWEEP = "Sweep"


class LifecycleSpec(ApiModel):
    """Expiration of temporary prefixes; payload objects under avro/ are never targeted."""

    enabled: bool = True
    """Manage expiration rules for the temporary prefixes."""
    mode: LifecycleMode = LifecycleMode.NATIVE
    """Native: provider lifecycle rules. Sweep: the operator deletes expired temporary objects itself."""
    tmp_prefixes: Annotated[
        list[
            Annotated[
                str,
                Field(
                    min_length=2,
                    max_length=512,
                    pattern=TMP_PREFIX_PATTERN,
                    description="A temporary prefix relative to spec.prefix, ending with a slash.",
                    # refused at admission on every Kubernetes version: payload objects are never targets
                    json_schema_extra={"not": {"pattern": PAYLOAD_SEGMENT_PATTERN}},
                ),
            ]
        ],
        Field(min_length=1, max_length=10, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = ["tmp/"]
    """Prefixes relative to spec.prefix, each ending with "/"; never with an avro or quarantine segment."""
    expiration_days: Annotated[int, Field(ge=1, le=3650)] = 10
    """Days after which temporary objects expire (the Cirrus default is 10)."""
    abort_incomplete_multipart_upload_days: Annotated[int, Field(ge=0, le=3650)] = 1
    """S3 only: abort unfinished multipart uploads after this many days; 0 disables."""
    sweep_schedule: Annotated[str, Field(max_length=128, pattern=SCHEDULE_PATTERN)] = "@hourly"
    """Cron schedule of the sweeper (Sweep mode, or Azure without a management policy)."""


class OrphanAuditMode(StrEnum):
    """Whether the orphan audit only reports or also deletes."""

    DRY_RUN = "DryRun"
    DELETE = "Delete"


class OrphanAuditSpec(ApiModel):
    """Mark-and-sweep audit of payload objects that no history references."""

    enabled: bool = True
    """Run the audit as part of each retention run."""
    mode: OrphanAuditMode = OrphanAuditMode.DRY_RUN
    """DryRun reports candidates. Delete removes them, only on Gen A servers, only when proven safe.
    Histories are not every owner of an object (schedules, updates, unclaimed uploads also are):
    Delete trusts the walk, so use it only where histories are the sole owners."""
    min_age: Annotated[str, Field(max_length=32, pattern=DURATION_PATTERN)] = "72h"
    """Grace period: objects younger than this are never candidates."""


class RetentionSpec(ApiModel):
    """Scheduled retention: the server's passes plus the orphan audit."""

    schedule: Annotated[str, Field(max_length=128, pattern=SCHEDULE_PATTERN)] = "@daily"
    """Cron (5 fields) or @hourly/@daily/@weekly; "@daily-random" spreads load, stable per resource."""
    suspend: bool = False
    """Pause scheduling without deleting the block."""
    server_passes: bool = True
    """Drive the server's retention pass (and the Gen B cleanup pass) until done or the budget is spent."""
    max_runs_per_pass: Annotated[int, Field(ge=1, le=100)] = 100
    """The limit sent with each retention pass (the server caps it at 100)."""
    orphan_audit: OrphanAuditSpec = OrphanAuditSpec()
    """The orphan audit."""


class RunnerType(StrEnum):
    """Where retention and integrity runs execute."""

    JOB = "Job"
    IN_PROCESS = "InProcess"


class ResourceList(ApiModel):
    """CPU and memory quantities."""

    cpu: Annotated[str, Field(max_length=32, pattern=r"^[0-9]+(\.[0-9]+)?m?$")] | None = None
    """CPU quantity, e.g. 500m."""
    memory: Annotated[str, Field(max_length=32, pattern=r"^[0-9]+(\.[0-9]+)?([KMGTE]i?)?$")] | None = None
    """Memory quantity, e.g. 256Mi."""


class RunnerResources(ApiModel):
    """Requests and limits of Job pods."""

    requests: ResourceList | None = None
    """Guaranteed resources."""
    limits: ResourceList | None = None
    """Maximum resources."""


class RunnerSpec(ApiModel):
    """How retention and integrity runs execute."""

    type: RunnerType = RunnerType.JOB
    """Job: Kubernetes Jobs from the operator image. InProcess: inside the operator (dev, small installs)."""
    history_limit: Annotated[int, Field(ge=0, le=100)] = 3
    """Finished Jobs kept per resource and kind."""
    resources: RunnerResources = RunnerResources()
    """Resources of Job pods."""
    shards: Annotated[int, Field(ge=1, le=16)] = 1
    """Parallel Jobs, split by the first hex digits of the sha256."""
    active_deadline_seconds: Annotated[int, Field(ge=60, le=604800)] = 21600
    """A Job running longer than this is stopped and its run recorded as failed."""


class IntegrityMode(StrEnum):
    """What the integrity run checks."""

    REFERENCED = "Referenced"
    INVENTORY = "Inventory"
    BOTH = "Both"


class OnCorrupt(StrEnum):
    """What to do with a corrupt object; never delete."""

    REPORT = "Report"
    QUARANTINE = "Quarantine"


class IntegritySpec(ApiModel):
    """Scheduled verification of size and sha256 of payload objects."""

    schedule: Annotated[str, Field(max_length=128, pattern=SCHEDULE_PATTERN)] = "0 3 * * 0"
    """Cron (5 fields) or @hourly/@daily/@weekly, optionally -random."""
    suspend: bool = False
    """Pause scheduling without deleting the block."""
    mode: IntegrityMode = IntegrityMode.BOTH
    """Referenced: every reference in histories. Inventory: every stored object. Both."""
    sample_ratio: Annotated[float, Field(gt=0, le=1)] = 1.0
    """Share of objects checked, chosen stably by sha256 so repeated runs cover the same sample."""
    concurrency: Annotated[int, Field(ge=1, le=256)] = 16
    """Parallel object reads per shard; a local store reads at most two per CPU (its hashing is CPU-bound)."""
    on_corrupt: OnCorrupt = OnCorrupt.REPORT
    """Report only, or also copy the object to <root>/quarantine/ with a JSON note."""


def _one_block_per_driver() -> list[dict[str, str]]:
    return [
        {
            "rule": f"(self.driver == '{driver.value}') == has(self.{driver.value})",
            "message": f"spec.{driver.value} must be set exactly when spec.driver is {driver.value}",
            "fieldPath": f".{driver.value}",
            "reason": "FieldValueInvalid",
        }
        for driver in Driver
    ]


def _driver_one_of() -> list[dict[str, object]]:
    """The same rule as structural value validation, which API servers before CEL (1.25) also enforce.

    The refusal names the field: "spec.s3: Required value" or "spec.gcs must not validate the schema".
    """
    return [
        {
            "required": [driver.value],
            "properties": {"driver": {"enum": [driver.value]}}
            | {other.value: {"not": {}} for other in Driver if other != driver},
        }
        for driver in Driver
    ]


TMP_PREFIX_MESSAGE = "spec.lifecycle.tmpPrefixes must not have an avro or quarantine segment at any depth"
PREFIX_MESSAGE = "spec.prefix must not have an avro or quarantine segment when spec.lifecycle is set"

CEL_RULES: list[dict[str, str]] = [
    *_one_block_per_driver(),
    {"rule": "self.driver == oldSelf.driver", "message": "spec.driver is immutable", "fieldPath": ".driver"},
    {"rule": "self.prefix == oldSelf.prefix", "message": "spec.prefix is immutable", "fieldPath": ".prefix"},
    {
        "rule": "!has(oldSelf.s3) || !has(self.s3) || self.s3.bucket == oldSelf.s3.bucket",
        "message": "spec.s3.bucket is immutable",
        "fieldPath": ".s3.bucket",
    },
    {
        "rule": "!has(oldSelf.gcs) || !has(self.gcs) || self.gcs.bucket == oldSelf.gcs.bucket",
        "message": "spec.gcs.bucket is immutable",
        "fieldPath": ".gcs.bucket",
    },
    {
        "rule": "!has(oldSelf.azure) || !has(self.azure) || self.azure.container == oldSelf.azure.container",
        "message": "spec.azure.container is immutable",
        "fieldPath": ".azure.container",
    },
    {
        "rule": "!has(oldSelf.local) || !has(self.local) || self.local.path == oldSelf.local.path",
        "message": "spec.local.path is immutable",
        "fieldPath": ".local.path",
    },
    {
        "rule": f"!has(self.lifecycle) || self.lifecycle.tmpPrefixes.all(p, !p.matches('{PAYLOAD_SEGMENT_PATTERN}'))",
        "message": TMP_PREFIX_MESSAGE,
        "fieldPath": ".lifecycle.tmpPrefixes",
    },
    {
        "rule": f"!has(self.lifecycle) || !self.prefix.matches('{PAYLOAD_SEGMENT_PATTERN}')",
        "message": PREFIX_MESSAGE,
        "fieldPath": ".prefix",
    },
]


def _no_lifecycle_under_payloads() -> dict[str, object]:
    """The prefix rule as structural validation, which API servers before CEL (1.25) also enforce."""
    return {"required": ["lifecycle", "prefix"], "properties": {"prefix": {"pattern": PAYLOAD_SEGMENT_PATTERN}}}


class PublishSpec(ApiModel):
    """What happens when the published Secret or ConfigMap changes."""

    restart_deployments: Annotated[
        list[
            Annotated[
                str,
                Field(
                    max_length=253,
                    pattern=DNS_SUBDOMAIN_PATTERN,
                    description="The name of a Deployment in the resource's namespace.",
                ),
            ]
        ],
        Field(max_length=16),
    ] = []
    """Deployments in the resource's own namespace whose pods the operator restarts (a pod-template annotation,
    like `kubectl rollout restart`) when the published content hash changes; the admin allows it per namespace
    (chart value rbac.restartDeploymentsNamespaces)."""


class ExternalPayloadStorageSpec(ApiModel):
    """Declares where a Durable Workflow server's large payloads live and how they are kept."""

    model_config = ConfigDict(
        **ApiModel.model_config,
        json_schema_extra={
            "x-kubernetes-validations": cast("list[JsonValue]", CEL_RULES),
            "oneOf": cast("list[JsonValue]", _driver_one_of()),
            "not": cast("JsonValue", _no_lifecycle_under_payloads()),
        },
    )

    server: ServerSpec
    """The Durable Workflow server and its namespaces."""
    driver: Driver
    """Storage provider; exactly the matching block (s3, gcs, azure or local) is set (immutable)."""
    s3: S3Spec | None = None
    """S3 settings, with driver s3."""
    gcs: GcsSpec | None = None
    """GCS settings, with driver gcs."""
    azure: AzureSpec | None = None
    """Azure Blob settings, with driver azure."""
    local: LocalSpec | None = None
    """Local directory settings, with driver local."""
    prefix: Annotated[str, Field(max_length=1024, pattern=PREFIX_PATTERN)] = ""
    """Root of every key, e.g. namespaces/orders; segments of [A-Za-z0-9._~-], no "." or ".." (immutable).
    The local driver ignores it: the server and the SDK write local payloads under <path>/avro/ whatever
    the prefix, so the operator looks there too and warns (condition PolicySynced) when one is set."""
    threshold_bytes: Annotated[int, Field(ge=1, le=1073741824)] = 2097152
    """Payloads larger than this are stored externally."""
    enabled: bool = True
    """Whether the server policy is enabled."""
    integrity_required: bool = True
    """Workers verify size and sha256 of every fetched payload."""
    management_policy: ManagementPolicy = ManagementPolicy.MANAGE
    """Manage: write and repair. Observe: report drift, change nothing."""
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    """On delete: Retain leaves the server policy and rules; Delete disables the policy and removes owned
    rules. Payload objects are never deleted."""
    lifecycle: LifecycleSpec | None = None
    """Expiration of temporary prefixes; omit to leave bucket rules alone."""
    retention: RetentionSpec | None = None
    """Scheduled retention and orphan audit; omit to leave retention to the server's own scheduler."""
    integrity: IntegritySpec | None = None
    """Scheduled integrity verification; omit to disable."""
    runner: RunnerSpec = RunnerSpec()
    """How retention and integrity runs execute."""
    publish: PublishSpec = PublishSpec()
    """Rollouts of consumers when the published objects change."""

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> ExternalPayloadStorageSpec:
        """The CEL rules above, enforced again so clusters without CEL still refuse bad specs."""
        for driver in Driver:
            if (self.driver == driver) != (getattr(self, driver.value) is not None):
                raise ValueError(f"spec.{driver.value} must be set exactly when spec.driver is {driver.value}")
        if self.lifecycle is not None:
            if any(re.search(PAYLOAD_SEGMENT_PATTERN, tmp) for tmp in self.lifecycle.tmp_prefixes):
                raise ValueError(TMP_PREFIX_MESSAGE)
            if re.search(PAYLOAD_SEGMENT_PATTERN, self.prefix):
                raise ValueError(PREFIX_MESSAGE)
        return self

    @property
    def key_prefix(self) -> str:
        """The prefix payload keys really start with: the local driver ignores spec.prefix (server and SDK)."""
        return "" if self.driver == Driver.LOCAL else self.prefix

    @property
    def bucket(self) -> str:
        """The bucket, container or directory, whichever the driver uses."""
        block = {
            Driver.S3: self.s3 and self.s3.bucket,
            Driver.GCS: self.gcs and self.gcs.bucket,
            Driver.AZURE: self.azure and self.azure.container,
            Driver.LOCAL: self.local and self.local.path,
        }[self.driver]
        return block or ""
