"""The retention run: the server's own passes, then the orphan audit of this shard.

The server stays the deletion authority for everything histories own; the operator drives its passes
(contract point 6) and, separately, looks for payload objects nothing references any more. Which
server generation each namespace speaks, and whether it advertises references at all, is read from
cluster-info first, because both halves depend on it. The run also records storage usage by class
(tasks/retention/usage.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from payload_operator.adapters.server import ServerClient
from payload_operator.adapters.storage.base import ObjectStore, StorageError
from payload_operator.adapters.storage.factory import open_store
from payload_operator.api.results import (
    AuditStatus,
    OrphanAuditResult,
    PassesStatus,
    RetentionResult,
    RunOutcome,
    ServerPassesResult,
    StorageUsage,
    added,
)
from payload_operator.api.spec import OrphanAuditMode, RetentionSpec
from payload_operator.api.status import RetentionStatus
from payload_operator.core.run_context import RunContext
from payload_operator.planning.orphans import parse_duration
from payload_operator.tasks.discovery import Discovery, discover
from payload_operator.tasks.retention import report as retention_report
from payload_operator.tasks.retention import server_passes, usage
from payload_operator.tasks.retention.orphan_audit import AuditScope, AuditTally, OrphanAudit, Progress

log = logging.getLogger(__name__)


class MissingServerToken(ValueError):
    """Both halves of a retention run talk to the server and need its token."""


class RetentionRun:
    """The `retention` run kind; `progress` receives one-line progress notes (the CLI shows them)."""

    name = "retention"
    result_model = RetentionResult
    status_model = RetentionStatus

    def __init__(self, *, progress: Progress | None = None) -> None:
        self.progress = progress

    async def execute(self, context: RunContext) -> RetentionResult:
        """Server passes (shard 0 only), this shard's orphan audit, and storage usage."""
        spec = context.resource.spec
        settings = spec.retention or RetentionSpec()
        if not context.server_token:
            raise MissingServerToken("retention talks to the server and needs its token (DW_TOKEN outside a cluster)")
        started = time.monotonic()
        async with ServerClient.for_server(
            spec.server, context.server_token, context.server_ca, peer_check=context.server_peer_check
        ) as client:
            discoveries, errors = await discover(client, spec.server.namespaces)
            generations = {ns: d.generation for ns, d in discoveries.items()}
            if not settings.server_passes:
                passes = ServerPassesResult(status=PassesStatus.DISABLED)
            elif context.shard.index != 0:
                passes = ServerPassesResult(status=PassesStatus.OTHER_SHARD)
            else:
                passes = await server_passes.drive(
                    client,
                    generations,
                    spec.server.namespaces,
                    limit=settings.max_runs_per_pass,
                    dry_run=context.dry_run,
                )
            orphans, measured = await self._storage(client, discoveries, errors, settings, context)
        return RetentionResult(
            shards=1,
            dry_run=context.dry_run,
            server_passes=passes,
            orphans=orphans,
            usage=measured,
            duration_seconds=round(time.monotonic() - started, 3),
        )

    async def _storage(
        self,
        client: ServerClient,
        discoveries: Mapping[str, Discovery],
        errors: Sequence[str],
        settings: RetentionSpec,
        context: RunContext,
    ) -> tuple[OrphanAuditResult, StorageUsage | None]:
        """The orphan audit and the usage it and shard 0's listing of the other prefixes measured."""
        audit_enabled = settings.orphan_audit.enabled
        if not audit_enabled and context.shard.index != 0:
            return OrphanAuditResult(status=AuditStatus.DISABLED), None
        try:
            store = await asyncio.to_thread(open_store, context.resource.spec, context.storage_credentials)
        except StorageError as exc:
            failure = f"storage did not answer ({exc.reason}): {exc}"
            if not audit_enabled:  # only usage wanted the store: the run goes on without it
                log.warning("storage usage not measured: %s", failure)
                return OrphanAuditResult(status=AuditStatus.DISABLED), None
            return AuditTally().result(AuditStatus.FAILED, failure, "none"), None
        try:
            orphans, audit_usage = await self._audit(
                client, store, discoveries=discoveries, errors=errors, settings=settings, context=context
            )
            if context.shard.index != 0:
                return orphans, audit_usage
            outside = await usage.measure_outside_payloads(store, context.resource.spec)
            return orphans, added(audit_usage, outside)
        finally:
            await asyncio.to_thread(store.close)

    async def _audit(
        self,
        client: ServerClient,
        store: ObjectStore,
        *,
        discoveries: Mapping[str, Discovery],
        errors: Sequence[str],
        settings: RetentionSpec,
        context: RunContext,
    ) -> tuple[OrphanAuditResult, StorageUsage | None]:
        """This shard's orphan audit, with the payload directory's usage when its listing completed."""
        audit = settings.orphan_audit
        if not audit.enabled:
            return OrphanAuditResult(status=AuditStatus.DISABLED), None
        if errors:
            return AuditTally().result(AuditStatus.FAILED, f"discovery failed: {errors[0]}", "none"), None
        scope = AuditScope(
            context.resource.spec,
            context.shard,
            parse_duration(audit.min_age),
            delete=audit.mode is OrphanAuditMode.DELETE and not context.dry_run,
        )
        auditor = OrphanAudit(client, store, discoveries, scope, self.progress)
        result = await auditor.run()
        return result, usage.audited(auditor.tally.sweep) if result.status is AuditStatus.OK else None

    def merge(self, shard_results: Sequence[RetentionResult]) -> RetentionResult:
        """Add up the shards (see `retention_report.merge`)."""
        return retention_report.merge(shard_results)

    def outcome(self, result: RetentionResult) -> tuple[RunOutcome, str]:
        """See `retention_report.outcome`."""
        return retention_report.outcome(result)
