"""The retention run: the server's own passes, then the orphan audit of this shard.

The server stays the deletion authority for everything histories own; the operator drives its passes
(contract point 6) and, separately, looks for payload objects nothing references any more. Which
server generation each namespace speaks, and whether it advertises references at all, is read from
cluster-info first, because both halves depend on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from payload_operator.adapters.server import ServerClient
from payload_operator.adapters.storage.base import StorageError
from payload_operator.adapters.storage.factory import open_store
from payload_operator.api.spec import OrphanAuditMode, RetentionSpec
from payload_operator.core.run_context import RunContext
from payload_operator.planning.orphans import parse_duration
from payload_operator.tasks.discovery import Discovery, discover
from payload_operator.tasks.retention import report as retention_report
from payload_operator.tasks.retention import server_passes
from payload_operator.tasks.retention.orphan_audit import AuditScope, AuditTally, OrphanAudit, Progress


class MissingServerToken(ValueError):
    """Both halves of a retention run talk to the server and need its token."""


class RetentionRun:
    """The `retention` run kind; `progress` receives one-line progress notes (the CLI shows them)."""

    name = "retention"

    def __init__(self, *, progress: Progress | None = None) -> None:
        self.progress = progress

    async def execute(self, context: RunContext) -> dict[str, Any]:
        """Server passes (shard 0 only) and this shard's orphan audit."""
        spec = context.resource.spec
        settings = spec.retention or RetentionSpec()
        if not context.server_token:
            raise MissingServerToken("retention talks to the server and needs its token (DW_TOKEN outside a cluster)")
        started = time.monotonic()
        async with ServerClient.for_server(spec.server, context.server_token, context.server_ca) as client:
            discoveries, errors = await discover(client, spec.server.namespaces)
            generations = {ns: d.generation for ns, d in discoveries.items()}
            if not settings.server_passes:
                passes: dict[str, Any] = {"status": "disabled"}
            elif context.shard.index != 0:
                passes = {"status": "other_shard"}
            else:
                passes = await server_passes.drive(
                    client,
                    generations,
                    spec.server.namespaces,
                    limit=settings.max_runs_per_pass,
                    dry_run=context.dry_run,
                )
            orphans = await self._audit(client, discoveries, errors, settings, context)
        return {
            "shard": f"{context.shard.index}/{context.shard.count}",
            "dry_run": context.dry_run,
            "server_passes": passes,
            "orphans": orphans,
            "duration_seconds": round(time.monotonic() - started, 3),
        }

    async def _audit(
        self,
        client: ServerClient,
        discoveries: Mapping[str, Discovery],
        errors: Sequence[str],
        settings: RetentionSpec,
        context: RunContext,
    ) -> dict[str, Any]:
        audit = settings.orphan_audit
        if not audit.enabled:
            return {"status": "disabled"}
        if errors:
            return AuditTally().result("failed", f"discovery failed: {errors[0]}", "none")
        scope = AuditScope(
            context.resource.spec,
            context.shard,
            parse_duration(audit.min_age),
            delete=audit.mode is OrphanAuditMode.DELETE and not context.dry_run,
        )
        try:
            store = await asyncio.to_thread(open_store, context.resource.spec, context.storage_credentials)
        except StorageError as exc:
            return AuditTally().result("failed", f"storage did not answer ({exc.reason}): {exc}", "none")
        try:
            return await OrphanAudit(client, store, discoveries, scope, self.progress).run()
        finally:
            await asyncio.to_thread(store.close)

    def merge(self, shard_results: list[Mapping[str, Any]]) -> dict[str, Any]:
        """Add up the shards (see `retention_report.merge`)."""
        return retention_report.merge(shard_results)

    def outcome(self, result: Mapping[str, Any]) -> tuple[str, str]:
        """See `retention_report.outcome`."""
        return retention_report.outcome(result)
