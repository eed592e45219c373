"""The contract between the run framework and each kind of run, and the kinds the operator schedules.

A run kind only knows how to do its work for one shard and summarise it as a JSON-able dict; the
framework decides when it is due, where it executes, how shard results are merged and where they land.
The spec block, status block and CLI subcommand share the kind's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from payload_operator.core.run_context import RunContext
from payload_operator.tasks.integrity.run import IntegrityRun
from payload_operator.tasks.retention.run import RetentionRun


class RunKind(Protocol):
    """One kind of scheduled run."""

    name: str
    """"retention" or "integrity": used in labels, status keys and CLI names."""

    async def execute(self, context: RunContext) -> dict[str, Any]:
        """Do the work of one shard; return counts and a short sample of keys (JSON-able, bounded)."""

    def merge(self, shard_results: list[Mapping[str, Any]]) -> dict[str, Any]:
        """Combine shard results into the run's result."""

    def outcome(self, result: Mapping[str, Any]) -> tuple[str, str]:
        """(Succeeded | PartiallyFailed | Failed, one-line message) for the condition and recent runs."""


def run_kinds() -> dict[str, RunKind]:
    """One instance of every scheduled kind."""
    return {"retention": RetentionRun(), "integrity": IntegrityRun()}
