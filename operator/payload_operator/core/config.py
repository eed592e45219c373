"""Operator-wide settings, read once from PAYLOAD_OPERATOR_* environment variables.

Values are injected rather than branched on, so tests run the production code path with shorter
intervals instead of test-only switches.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from payload_operator.api.spec import RunnerResources
from payload_operator.planning.tenancy import TenantPolicy

PINNED_SECRETS_ENV = "PAYLOAD_OPERATOR_PINNED_SECRETS"


class PullSecret(BaseModel):
    """A pull Secret of Job pods, by name (a LocalObjectReference)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=253)


class OperatorConfig(BaseSettings):
    """Tuning knobs of the running operator."""

    model_config = SettingsConfigDict(env_prefix="PAYLOAD_OPERATOR_", frozen=True)

    timer_interval: float = Field(default=30.0, gt=0)
    """Seconds between a resource's timer ticks while it has work in progress; a settled resource's tick rests
    until it changes or work falls due (handlers._rest)."""
    backoff_base: float = Field(default=5.0, gt=0)
    """First retry delay after a failed reconcile; doubles per consecutive failure."""
    backoff_max: float = Field(default=300.0, gt=0)
    """Longest retry delay."""
    deletion_attempts: int = Field(default=5, ge=1)
    """Attempts to disable server policies on deletion before the finalizer is released anyway."""
    deletion_retry_delay: float = Field(default=10.0, gt=0)
    """Seconds between deletion attempts."""
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    """Port of the Prometheus /metrics endpoint; 0 disables it."""
    api_contact_max_age: float = Field(default=30.0, gt=0)
    """Seconds without a successful Kubernetes API contact after which /readyz says not ready (`run --readiness`);
    the API is checked three times in that span."""
    job_image: str = "ghcr.io/durable-workflow/payload-operator:0.1.0"
    """Image of retention and integrity Jobs (the operator's own image)."""
    job_service_account: str = "payload-operator-runner"
    """ServiceAccount of retention and integrity Job pods."""
    job_node_selector: dict[str, str] = {}
    """nodeSelector of Job pods (JSON; Helm value runner.nodeSelector), e.g. nodes near the storage."""
    job_tolerations: list[dict[str, Any]] = []
    """Tolerations of Job pods (JSON list; runner.tolerations)."""
    job_affinity: dict[str, Any] = {}
    """Affinity of Job pods (JSON; runner.affinity)."""
    job_image_pull_secrets: list[PullSecret] = []
    """Pull Secrets of Job pods (JSON list of {name}; runner.imagePullSecrets), in each namespace Jobs run in."""
    job_resources: RunnerResources = RunnerResources()
    """Requests and limits of Job pods whose resource sets no spec.runner.resources (JSON; runner.resources);
    empty: the built-in defaults."""
    max_reconcile_workers: int = Field(default=20, ge=1)
    """Resources reconciled at once (handlers and timer ticks); the rest wait their turn."""
    max_in_process_shards: int = Field(default=2, ge=1)
    """Shards of InProcess runs executing at once in the operator pod, across all resources."""
    namespace_sync_concurrency: int = Field(default=4, ge=1)
    """Durable Workflow namespaces one resource syncs at once (bounds the load on its server)."""
    usage_price_per_gib_month: float | None = Field(default=None, ge=0)
    """Storage price per GiB and month (Helm value usage.pricePerGiBMonth): turns each retention run's storage
    usage into a monthly cost estimate in status and metrics; unset, no estimate."""
    namespace: str = ""
    """The operator's own namespace (the chart sets it), whose resources may use ambient credentials."""
    tenant_policy: TenantPolicy = TenantPolicy()
    """What tenants' resources may use (JSON in PAYLOAD_OPERATOR_TENANT_POLICY; Helm value tenantPolicy);
    see docs/security.md. The defaults allow the providers' public endpoints and nothing else."""
    pinned_secrets: frozenset[str] = frozenset()
    """Secrets ("namespace/name") the operator may read without their consent label (JSON list in
    PAYLOAD_OPERATOR_PINNED_SECRETS; Helm value secrets.pinned); see docs/security.md."""

    def job_placement(self) -> dict[str, Any]:
        """The pod spec fields that place Job pods and let them pull: only those set, so the rest stay absent."""
        fields: dict[str, Any] = {
            "nodeSelector": self.job_node_selector,
            "tolerations": self.job_tolerations,
            "affinity": self.job_affinity,
            "imagePullSecrets": [secret.model_dump() for secret in self.job_image_pull_secrets],
        }
        return {key: value for key, value in fields.items() if value}

    def tenant_environment(self) -> dict[str, str]:
        """The variables that hand this tenant policy to a Job the operator starts, so it judges alike."""
        return {
            "PAYLOAD_OPERATOR_NAMESPACE": self.namespace,
            "PAYLOAD_OPERATOR_TENANT_POLICY": self.tenant_policy.model_dump_json(by_alias=True),
        } | ({PINNED_SECRETS_ENV: json.dumps(sorted(self.pinned_secrets))} if self.pinned_secrets else {})
