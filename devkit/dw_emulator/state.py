"""In-memory server state: namespaces, workflow runs, the Gen B payload registry."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TERMINAL_BUCKETS = {"completed": "completed", "failed": "failed", "cancelled": "failed", "terminated": "failed"}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Namespace:
    name: str
    description: str | None
    retention_days: int
    created_at: datetime
    updated_at: datetime
    status: str = "active"
    retention_mode: str = "bounded"
    external_payload_storage: dict[str, Any] | None = None


@dataclass
class Event:
    sequence: int
    event_type: str
    timestamp: datetime
    payload: dict[str, Any]
    command_id: str | None = None
    event_id: str = ""


@dataclass
class Run:
    run_id: str
    workflow_id: str
    namespace: str
    workflow_type: str
    status: str
    task_queue: str
    started_at: datetime
    closed_at: datetime | None
    run_number: int = 1
    events: list[Event] = field(default_factory=list)
    input_envelope: dict[str, Any] | None = None
    output_envelope: dict[str, Any] | None = None
    owns: list[str] = field(default_factory=list)  # extra owned object URIs (memo, tasks, …)
    archived: bool = False
    command_id: str = ""
    task_id: str = ""

    @property
    def status_bucket(self) -> str:
        return TERMINAL_BUCKETS.get(self.status, "running")

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_BUCKETS


@dataclass
class Workflow:
    workflow_id: str
    namespace: str
    runs: list[Run] = field(default_factory=list)

    @property
    def current_run(self) -> Run:
        return self.runs[-1]


@dataclass
class RegistryRow:
    """One ``runtime_external_payloads`` row (Gen B)."""

    id: str
    namespace: str
    uri: str
    codec: str
    sha256: str
    size_bytes: int
    upload_status: str  # writing | ready
    retained_at: datetime | None
    expires_at: datetime | None


@dataclass
class CleanupStats:
    passes: int = 0
    deleted_references: int = 0
    deleted_backing_objects: int = 0
    shared_objects_preserved: int = 0
    blocked_outcomes: int = 0
    storage_driver_failures: int = 0
    last: dict[str, int] = field(default_factory=dict)
    last_pass_status: str | None = None
    last_completed_at: datetime | None = None
    last_storage_failure_at: datetime | None = None


class ServerState:
    """All mutable state. Guard every read-modify-write with ``with state.lock:``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.namespaces: dict[str, Namespace] = {}
        self.workflows: dict[tuple[str, str], Workflow] = {}
        self.registry: dict[str, RegistryRow] = {}
        self.cleanup_stats: dict[str, CleanupStats] = {}
        self.clock_offset = timedelta()

    def now(self) -> datetime:
        return utcnow() + self.clock_offset

    # -- namespaces ---------------------------------------------------------
    def add_namespace(self, name: str, *, description: str | None = None, retention_days: int = 30) -> Namespace:
        name = name.lower()
        with self.lock:
            if name in self.namespaces:
                return self.namespaces[name]
            now = self.now()
            ns = Namespace(name, description, retention_days, now, now)
            self.namespaces[name] = ns
            return ns

    def namespace(self, name: str) -> Namespace | None:
        with self.lock:
            return self.namespaces.get(name.lower())

    # -- workflows ------------------------------------------------------------
    def workflows_in(self, namespace: str) -> list[Workflow]:
        with self.lock:
            return [wf for (ns, _), wf in self.workflows.items() if ns == namespace and wf.runs]

    def workflow(self, namespace: str, workflow_id: str) -> Workflow | None:
        with self.lock:
            wf = self.workflows.get((namespace, workflow_id))
            return wf if wf is not None and wf.runs else None

    def run(self, namespace: str, run_id: str) -> Run | None:
        with self.lock:
            for wf in self.workflows_in(namespace):
                for run in wf.runs:
                    if run.run_id == run_id:
                        return run
            return None

    def all_runs(self) -> list[Run]:
        with self.lock:
            return [run for wf in self.workflows.values() for run in wf.runs]

    def remove_run(self, run: Run) -> None:
        with self.lock:
            wf = self.workflows.get((run.namespace, run.workflow_id))
            if wf is None:
                return
            wf.runs = [r for r in wf.runs if r.run_id != run.run_id]
            if not wf.runs:
                del self.workflows[(run.namespace, run.workflow_id)]

    # -- Gen B registry -----------------------------------------------------------
    def registry_rows(self, *, uri: str | None = None, namespace: str | None = None) -> list[RegistryRow]:
        with self.lock:
            return [
                row
                for row in self.registry.values()
                if (uri is None or row.uri == uri) and (namespace is None or row.namespace == namespace)
            ]

    def registry_row_for(self, namespace: str, uri: str) -> RegistryRow | None:
        rows = self.registry_rows(uri=uri, namespace=namespace)
        return rows[0] if rows else None
