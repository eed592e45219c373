"""Small builders shared by the run-framework tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payload_operator.api.resource import Resource, resource_from_body
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


class CountingKind:
    """A run kind whose shards return their index, add up, and succeed unless told otherwise."""

    name = "retention"

    def __init__(self, outcome: str = "Succeeded", fail_shards: tuple[int, ...] = ()) -> None:
        self.reported = outcome
        self.fail_shards = fail_shards
        self.contexts: list[RunContext] = []

    async def execute(self, context: RunContext) -> dict[str, Any]:
        self.contexts.append(context)
        if context.shard.index in self.fail_shards:
            raise RuntimeError(f"shard {context.shard.index} broke")
        return {"objects_seen": 10 + context.shard.index, "sample": [f"key-{context.shard.index}"]}

    def merge(self, shard_results: list[Mapping[str, Any]]) -> dict[str, Any]:
        return {"objects_seen": sum(r["objects_seen"] for r in shard_results), "shards_merged": len(shard_results)}

    def outcome(self, result: Mapping[str, Any]) -> tuple[str, str]:
        return self.reported, f"saw {result['objects_seen']} objects"
