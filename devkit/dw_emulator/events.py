"""Building emulated runs and their history events from a compact :class:`RunSpec`."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import ids
from .state import Event, Run

EXECUTION_TIMEOUT_SECONDS = 3600
RUN_TIMEOUT_SECONDS = 600


@dataclass
class RunSpec:
    """One run of a workflow chain. ``None`` fields take the ``add_workflow`` defaults.

    Payload fields take envelopes: inline ``{codec, blob}``, Gen A ``{codec, external_storage}``
    or Gen B ``{codec, external_payload}`` (claimed from the registry).
    ``events`` adds custom events: ``[{"event_type": "X", "payload": {... envelopes ...}}]``.
    ``owns`` lists extra object URIs (or ``ep_`` ids) the run owns outside its history
    (memo, tasks, updates, …): retention deletes them too.
    """

    run_id: str | None = None
    status: str | None = None
    closed_at: datetime | None = None
    started_at: datetime | None = None
    input: dict[str, Any] | None = None
    activity_results: Sequence[dict[str, Any]] = ()
    output: dict[str, Any] | None = None
    events: Sequence[dict[str, Any]] = ()
    owns: Sequence[str] = ()
    archived: bool = False
    workflow_type: str | None = None
    task_queue: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _micro(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seconds(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat()


def _command_payload(envelope: dict[str, Any] | None) -> Any:
    if isinstance(envelope, dict) and isinstance(envelope.get("blob"), str) and len(envelope) <= 2:
        return envelope["blob"]
    return copy.deepcopy(envelope)


def start_command(run: Run, workflow_id: str, accepted_at: datetime) -> dict[str, Any]:
    fingerprint = hashlib.sha256(f"{workflow_id}:{run.run_id}".encode()).hexdigest()
    return {
        "id": run.command_id,
        "sequence": 1,
        "type": "start",
        "target_scope": "instance",
        "resolved_run_id": run.run_id,
        "payload_codec": "avro",
        # The server keeps an inline start payload as the bare blob beside payload_codec.
        "payload": _command_payload(run.input_envelope),
        "source": "control_plane",
        "caller_label": "Standalone Server",
        "auth_status": "authorized",
        "auth_method": "token",
        "request_method": "POST",
        "request_path": "/api/workflows",
        "request_fingerprint": f"sha256:{fingerprint}",
        "status": "accepted",
        "outcome": "started_new",
        "accepted_at": _micro(accepted_at),
        "applied_at": _micro(accepted_at + timedelta(microseconds=5)),
    }


def _terminal_event(run: Run) -> tuple[str, dict[str, Any]] | None:
    if run.status == "completed":
        return "WorkflowCompleted", {"output": copy.deepcopy(run.output_envelope)}
    if run.status == "failed":
        return "WorkflowFailed", {"exception": {"class": "RuntimeException", "message": "Emulated failure."}}
    if run.status == "cancelled":
        return "WorkflowCancelled", {"reason": "cancelled"}
    if run.status == "terminated":
        return "WorkflowTerminated", {"reason": "terminated"}
    return None


def build_events(run: Run, spec: RunSpec) -> list[Event]:
    """StartAccepted, WorkflowStarted, one ActivityCompleted per result, custom events, terminal event."""
    started = run.started_at
    command = start_command(run, run.workflow_id, started + timedelta(microseconds=3900))
    items: list[tuple[str, dict[str, Any]]] = [
        (
            "StartAccepted",
            {
                "workflow_command_id": run.command_id,
                "workflow_instance_id": run.workflow_id,
                "workflow_run_id": run.run_id,
                "workflow_class": run.workflow_type,
                "workflow_type": run.workflow_type,
                "business_key": None,
                "visibility_labels": None,
                "memo": [],
                "search_attributes": None,
                "outcome": "started_new",
                "command": command,
            },
        ),
        (
            "WorkflowStarted",
            {
                "workflow_class": run.workflow_type,
                "workflow_type": run.workflow_type,
                "workflow_instance_id": run.workflow_id,
                "workflow_run_id": run.run_id,
                "workflow_command_id": run.command_id,
                "memo": [],
                "execution_timeout_seconds": EXECUTION_TIMEOUT_SECONDS,
                "run_timeout_seconds": RUN_TIMEOUT_SECONDS,
                "execution_deadline_at": _seconds(started + timedelta(seconds=EXECUTION_TIMEOUT_SECONDS)),
                "run_deadline_at": _seconds(started + timedelta(seconds=RUN_TIMEOUT_SECONDS)),
                "command": copy.deepcopy(command),
            },
        ),
    ]
    for index, result in enumerate(spec.activity_results, start=1):
        items.append(
            (
                "ActivityCompleted",
                {
                    "activity_execution_id": ids.run_id(),
                    "activity_type": "emulated.activity",
                    "activity_sequence": index,
                    "result": copy.deepcopy(result),
                },
            )
        )
    for custom in spec.events:
        items.append((str(custom.get("event_type", "Custom")), copy.deepcopy(dict(custom.get("payload") or {}))))
    terminal = _terminal_event(run)
    if terminal is not None:
        items.append(terminal)
    events = []
    for sequence, (event_type, payload) in enumerate(items, start=1):
        offset = timedelta(microseconds=12_838 + sequence * 3_142)
        when = started + offset
        if terminal is not None and sequence == len(items) and run.closed_at is not None:
            when = run.closed_at
        events.append(
            Event(
                sequence=sequence,
                event_type=event_type,
                timestamp=when,
                payload=payload,
                command_id=run.command_id if sequence <= 2 else None,
                event_id=ids.run_id(),
            )
        )
    return events
