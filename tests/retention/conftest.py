"""A Durable Workflow server emulator whose namespaces store payloads in a local directory, plus helpers
to seed referenced, orphaned and young objects and to run retention against it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer, Tokens

from payload_operator.api.resource import Resource, resource_from_body
from payload_operator.core.run_context import RunContext, Shard
from payload_operator.scheduler.results import conclude, succeeded
from payload_operator.tasks.retention.run import RetentionRun

ADMIN = "adm-retention"
NAMESPACES = ("orders", "billing")
THRESHOLD = 64
HOUR = 3600


@dataclass
class Payloads:
    """A seeded emulator: which objects are referenced, orphaned (old) and young."""

    server: EmulatedServer
    root: Path
    referenced: list[Path] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)
    young: list[Path] = field(default_factory=list)
    counter: int = 0
    blob_size: int = 2 * THRESHOLD

    def blob(self, label: str) -> str:
        """A distinct payload larger than the offload threshold."""
        self.counter += 1
        return f"{label}-{self.counter:06d}-" + "x" * self.blob_size

    def path_of(self, namespace: str, envelope: dict[str, Any]) -> Path:
        uri = self.server.payload_uri(namespace, envelope)
        if uri.startswith("file://"):
            return Path(uri.removeprefix("file://"))
        sha = envelope["external_payload"]["sha256"]
        return self.root / "avro" / sha[:2] / sha

    def workflow(self, namespace: str, workflow_id: str, *, status: str = "completed", age: float = 2 * HOUR) -> Path:
        """A run whose input is an offloaded payload; the object is `age` seconds old."""
        envelope = self.server.store_payload(namespace, self.blob(workflow_id))
        self.server.add_workflow(namespace, workflow_id, input=envelope, status=status)
        path = self.path_of(namespace, envelope)
        age_file(path, age)
        self.referenced.append(path)
        return path

    def orphan(self, namespace: str = "orders", *, age: float = 2 * HOUR) -> Path:
        """An object written through the server that no history references."""
        envelope = self.server.store_payload(namespace, self.blob("orphan"))
        path = self.path_of(namespace, envelope)
        age_file(path, age)
        (self.orphans if age >= HOUR else self.young).append(path)
        return path

    def existing(self) -> set[Path]:
        return {p for p in self.root.rglob("*") if p.is_file()}


def age_file(path: Path, seconds: float) -> None:
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


def manifest(server: EmulatedServer, root: Path, **retention: Any) -> dict[str, Any]:
    """An ExternalPayloadStorage on the emulator's local root; retention overrides (grace period 1h)."""
    audit = {"minAge": "1h"} | retention.pop("orphanAudit", {})
    return {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {"name": "payloads", "namespace": "default", "uid": "11111111-2222-3333-4444-555555555555"},
        "spec": {
            "server": {"url": server.url, "tokenSecretRef": {"name": "dw-admin"}, "namespaces": list(NAMESPACES)},
            "driver": "local",
            "local": {"path": str(root)},
            "thresholdBytes": THRESHOLD,
            "retention": {"orphanAudit": audit} | retention,
        },
    }


def resource_of(server: EmulatedServer, root: Path, **retention: Any) -> Resource:
    return resource_from_body(manifest(server, root, **retention))


async def run_retention(
    resource: Resource, *, shards: int = 1, dry_run: bool = False, token: str = ADMIN
) -> tuple[dict[str, Any], str, str]:
    """Every shard of one retention run, merged: (result as status and --json spell it, outcome, message)."""
    kind = RetentionRun()
    outcomes = {}
    for index in range(shards):
        shard = Shard(index, shards)
        outcomes[index] = succeeded(shard, await kind.execute(RunContext(resource, token, None, shard, dry_run)))
    conclusion = conclude(kind, outcomes, shards)
    assert conclusion.result is not None
    result = conclusion.result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return result, conclusion.outcome.value, conclusion.message


ServerFactory = Callable[..., Payloads]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start an emulator (generation, inline mode, discovery as asked) whose namespaces use a local root."""
    started: list[EmulatedServer] = []

    def start(generation: str = "A", **options: Any) -> Payloads:
        root = tmp_path / f"payloads-{len(started)}"
        root.mkdir()
        server = EmulatedServer(
            generation=generation,  # type: ignore[arg-type]
            tokens=Tokens(admin=ADMIN, operator="op-retention", worker="wk-retention"),
            namespaces=list(NAMESPACES),
            local_root=root,
            **options,
        )
        server.start()
        started.append(server)
        for namespace in NAMESPACES:
            server.set_policy(
                namespace,
                {"driver": "local", "enabled": True, "threshold_bytes": THRESHOLD, "config": {"uri": root.as_uri()}},
            )
        return Payloads(server, root)

    yield start
    for server in started:
        server.close()
