"""Small builders shared by the run-framework tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from payload_operator.api.resource import Resource, resource_from_body
from payload_operator.api.results import AuditStatus, OrphanAuditResult, RetentionResult, RunOutcome
from payload_operator.api.status import RetentionStatus
from payload_operator.core.run_context import RunContext

UID = "6f1c2a9e-3b7d-4e21-9c55-0a1b2c3d4e5f"


def body(name: str = "payloads", namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    """A stored ExternalPayloadStorage body on the local driver, with spec overrides."""
    base: dict[str, Any] = {
        "server": {"url": "http://dw.invalid", "tokenSecretRef": {"name": "dw-admin"}, "namespaces": ["orders"]},
        "driver": "local",
        "local": {"path": "/srv/payloads"},
        "retention": {"schedule": "@daily"},
    }
    return {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": UID,
            "generation": 1,
            "creationTimestamp": "2026-03-01T09:17:00Z",
        },
        "spec": base | spec,
    }


def resource(**spec: Any) -> Resource:
    return resource_from_body(body(**spec))


def seen(count: int, *sample: str, shards: int = 1) -> RetentionResult:
    """A result that says how many objects were listed, and which."""
    orphans = OrphanAuditResult(status=AuditStatus.OK, listed=count, sample=list(sample))
    return RetentionResult(shards=shards, orphans=orphans)


class CountingKind:
    """A run kind whose shards list 10 + their index objects, add up, and succeed unless told otherwise."""

    name = "retention"
    result_model = RetentionResult
    status_model = RetentionStatus

    def __init__(self, outcome: RunOutcome = RunOutcome.SUCCEEDED, fail_shards: tuple[int, ...] = ()) -> None:
        self.reported = outcome
        self.fail_shards = fail_shards
        self.contexts: list[RunContext] = []

    async def execute(self, context: RunContext) -> RetentionResult:
        self.contexts.append(context)
        if context.shard.index in self.fail_shards:
            raise RuntimeError(f"shard {context.shard.index} broke")
        return seen(10 + context.shard.index, f"key-{context.shard.index}")

    def merge(self, shard_results: Sequence[RetentionResult]) -> RetentionResult:
        listed = sum(r.orphans.listed for r in shard_results if r.orphans)
        return seen(
            listed, *(key for r in shard_results if r.orphans for key in r.orphans.sample), shards=len(shard_results)
        )

    def outcome(self, result: RetentionResult) -> tuple[RunOutcome, str]:
        return self.reported, f"saw {result.orphans.listed if result.orphans else 0} objects"
