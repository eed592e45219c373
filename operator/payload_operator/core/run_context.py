"""The contract between the run framework (schedule, runners, status) and each kind of run.

A run kind only knows how to do its work for one shard and summarise it as a JSON-able dict; the
framework decides when it is due, where it executes, how shard results are merged and where they land.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from payload_operator.manifest import Resource
from payload_operator.secrets import SecretValues


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`, split by the first hex digits of the sha256."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse "I/N" (0-based)."""
        index, _, count = text.partition("/")
        shard = cls(int(index), int(count))
        if not 0 <= shard.index < shard.count:
            raise ValueError(f"shard {text!r}: want I/N with 0 <= I < N")
        return shard


@dataclass(frozen=True)
class RunContext:
    """Everything a run needs, resolved before it starts (so a run never reads Kubernetes itself)."""

    resource: Resource
    server_token: str | None
    storage_credentials: SecretValues | None
    shard: Shard
    dry_run: bool = True
    server_ca: str | None = None
    """The PEM bundle spec.server.caBundleRef names, when it names one."""


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
