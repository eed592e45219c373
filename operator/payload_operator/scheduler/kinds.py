"""The contract between the run framework and each kind of run, and the kinds the operator schedules.

A run kind only knows how to do its work for one shard and summarise it as its typed result
(api/results.py); the framework decides when it is due, where it executes, how shard results are
merged and where they land. The spec block, status block and CLI subcommand share the kind's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from payload_operator.api.results import ResultModel, RunOutcome
from payload_operator.api.status import RunBookkeeping
from payload_operator.core.run_context import RunContext
from payload_operator.tasks.integrity.run import IntegrityRun
from payload_operator.tasks.retention.run import RetentionRun

R = TypeVar("R", bound=ResultModel)


class RunKind(Protocol[R]):
    """One kind of scheduled run, whose shards and runs produce results of type R."""

    name: str
    """"retention" or "integrity": used in labels, status keys and CLI names."""

    @property
    def result_model(self) -> type[R]:
        """What a shard's result is read as (from its ConfigMap)."""

    @property
    def status_model(self) -> type[RunBookkeeping]:
        """The kind's status block (`status.<name>`), with its typed last result."""

    async def execute(self, context: RunContext) -> R:
        """Do the work of one shard; return counts and a short sample of keys (bounded)."""

    def merge(self, shard_results: Sequence[R]) -> R:
        """Combine shard results into the run's result."""

    def outcome(self, result: R) -> tuple[RunOutcome, str]:
        """The outcome and a one-line message, for the condition and recent runs."""


def run_kinds() -> dict[str, RunKind[Any]]:
    """One instance of every scheduled kind."""
    return {"retention": RetentionRun(), "integrity": IntegrityRun()}
