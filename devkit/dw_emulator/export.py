"""``GET …/history/export``: a ``durable-workflow.v2.history-export`` replay bundle (§6.8)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .codec import GENERIC_WRAPPER_FINGERPRINT, GENERIC_WRAPPER_SCHEMA, decode_blob, framing
from .context import EmulatorContext
from .contract import HISTORY_EXPORT_SCHEMA
from .events import start_command
from .responses import iso_micros
from .state import Event, Run, Workflow
from .workflow_views import wait

_TIMELINE_NULL_KEYS = (
    "workflow_sequence", "signal_id", "signal_wait_id", "condition_wait_id", "condition_key",
    "condition_definition_fingerprint", "signal_name", "update_name", "version_change_id", "version",
    "version_min_supported", "version_max_supported", "activity_execution_id", "activity_type",
    "activity_class", "activity_status", "retry_task_id", "retry_available_at", "retry_backoff_seconds",
    "retry_max_attempts", "retry_policy", "retry_after_attempt_id", "retry_after_attempt", "timer_id",
    "delay_seconds", "child_call_id", "child_workflow_instance_id", "child_workflow_run_id",
    "child_workflow_type", "child_workflow_class", "child_status", "parallel_group_kind",
    "parallel_group_id", "parallel_group_base_sequence", "parallel_group_size", "parallel_group_index",
)  # fmt: skip
_TIMELINE_TAIL_NULL_KEYS = (
    "failure_id", "exception_type", "exception_class", "exception_resolved_class",
    "exception_resolution_source", "exception_resolution_error", "message", "closed_reason",
)  # fmt: skip

CODEC_SCHEMAS = {
    "avro": {
        "encoding": "base64-avro-binary",
        "wrapper_schema": GENERIC_WRAPPER_SCHEMA,
        "wrapper_prefix_hex": "00",
        "typed_prefix_hex": "01",
        "generic_wrapper": {
            "prefix_hex": "00",
            "writer_schema": GENERIC_WRAPPER_SCHEMA,
            "writer_schema_fingerprint": GENERIC_WRAPPER_FINGERPRINT,
        },
        "typed_schema": {
            "prefix_hex": "01",
            "schema_header": "uint32_be_length_prefixed_utf8_json",
            "writer_schema_location": "payload_manifest.entries[*].writer_schema",
        },
    }
}


def checksum(bundle: dict[str, Any]) -> str:
    """``json-recursive-ksort-v1`` + sha256 over everything but ``integrity``."""

    def ksort(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ksort(value[k]) for k in sorted(value)}
        if isinstance(value, list):
            return [ksort(v) for v in value]
        return value

    body = {k: v for k, v in bundle.items() if k != "integrity"}
    canonical = json.dumps(ksort(body), separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _blob(presented: Any) -> str | None:
    if isinstance(presented, str):
        return presented
    if isinstance(presented, dict) and isinstance(presented.get("blob"), str):
        return str(presented["blob"])
    return None


def _manifest_entry(path: str, presented: Any) -> dict[str, Any]:
    blob = _blob(presented)
    kind = framing(blob) if blob is not None else None
    generic = kind == "generic_wrapper"
    return {
        "path": path,
        "codec": "avro",
        "available": presented is not None,
        "redacted": False,
        "encoding": "base64-avro-binary",
        "avro_framing": kind,
        "avro_prefix_hex": "00" if generic else ("c301" if kind else None),
        "writer_schema": GENERIC_WRAPPER_SCHEMA if generic else None,
        "writer_schema_fingerprint": GENERIC_WRAPPER_FINGERPRINT if generic else None,
        "diagnostic": None if presented is not None else "payload_unavailable",
    }


def _timeline_entry(run: Run, event: Event, command: dict[str, Any] | None) -> dict[str, Any]:
    is_command = event.event_type == "StartAccepted"
    entry: dict[str, Any] = {
        "id": event.event_id,
        "sequence": event.sequence,
        "type": event.event_type,
        "kind": "command" if is_command else "workflow",
        "entry_kind": "point",
        "source_kind": "workflow_command" if is_command else "workflow_run",
        "source_id": run.command_id if is_command else run.run_id,
        "summary": "Start accepted as started_new." if is_command else _summary(event.event_type),
        "recorded_at": iso_micros(event.timestamp),
        "command_id": event.command_id,
        "command_sequence": 1 if command else None,
        "requested_run_id": None,
        "resolved_run_id": run.run_id,
        "task_id": None,
        "command_type": "start" if command else None,
        "command_status": "accepted" if command else None,
        "command_outcome": "started_new" if command else None,
        "command_rejection_reason": None,
    }
    entry.update(dict.fromkeys(_TIMELINE_NULL_KEYS))
    entry["parallel_group_path"] = []
    entry.update(dict.fromkeys(_TIMELINE_TAIL_NULL_KEYS))
    entry.update({"command": command, "task": None, "activity": None, "timer": None, "child": None, "failure": None})
    return entry


def _summary(event_type: str) -> str:
    return {"WorkflowStarted": "Workflow run started.", "WorkflowCompleted": "Workflow run completed."}.get(
        event_type, f"{event_type} recorded."
    )


def _commands(run: Run, presented_payload: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    base = start_command(run, run.workflow_id, run.started_at)
    full = {
        "id": base["id"],
        "sequence": 1,
        "type": "start",
        "target_scope": "instance",
        "requested_run_id": None,
        "resolved_run_id": run.run_id,
        "target_name": None,
        "payload_codec": "avro",
        "payload": presented_payload,
        "source": "control_plane",
        "context": [],
        "caller_label": base["caller_label"],
        "principal_type": None,
        "principal_id": None,
        "principal_label": None,
        "auth_status": "authorized",
        "auth_method": "token",
        "request_method": "POST",
        "request_path": "/api/workflows",
        "request_route_name": None,
        "request_fingerprint": base["request_fingerprint"],
        "request_id": None,
        "correlation_id": None,
        "status": "accepted",
        "outcome": "started_new",
        "rejection_reason": None,
        "validation_errors": [],
        "accepted_at": base["accepted_at"],
        "applied_at": base["applied_at"],
        "rejected_at": None,
    }
    blob = _blob(presented_payload)
    timeline_command = {k: v for k, v in full.items() if k not in ("validation_errors", "request_id", "correlation_id")}
    timeline_command["context"] = None
    timeline_command["payload_available"] = blob is not None
    timeline_command["payload"] = decode_blob(blob) if blob is not None else None
    ordered = {}
    for key, value in timeline_command.items():
        if key == "payload":
            ordered["payload_available"] = timeline_command["payload_available"]
        if key != "payload_available":
            ordered[key] = value
    return [full], ordered


def _task(run: Run) -> dict[str, Any]:
    at = iso_micros(run.started_at)
    return {
        "id": run.task_id,
        "type": "workflow",
        "status": "completed" if run.is_terminal else "ready",
        "payload": [],
        "connection": None,
        "queue": run.task_queue,
        "compatibility": None,
        "attempt_count": 1 if run.is_terminal else 0,
        "repair_count": 0,
        "available_at": at,
        "leased_at": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_dispatch_attempt_at": at,
        "last_dispatched_at": at,
        "last_dispatch_error": None,
        "last_claim_failed_at": None,
        "last_claim_error": None,
        "repair_available_at": None,
    }


def _workflow_section(wf: Workflow, run: Run, last_seq: int, last_progress: str | None) -> dict[str, Any]:
    return {
        "instance_id": run.workflow_id,
        "run_id": run.run_id,
        "run_number": run.run_number,
        "is_current_run": run is wf.current_run,
        "current_run_id": wf.current_run.run_id,
        "current_run_source": "run_order_fallback",
        "workflow_type": run.workflow_type,
        "workflow_class": run.workflow_type,
        "business_key": None,
        "visibility_labels": [],
        "memo": [],
        "search_attributes": [],
        "status": run.status,
        "status_bucket": run.status_bucket,
        "closed_reason": run.status if run.is_terminal else None,
        "archived_at": None,
        "archive_command_id": None,
        "archive_reason": None,
        "compatibility": None,
        "connection": None,
        "queue": run.task_queue,
        "last_history_sequence": last_seq,
        "started_at": iso_micros(run.started_at),
        "closed_at": iso_micros(run.closed_at),
        "last_progress_at": last_progress,
    }


def _summary_section(wf: Workflow, run: Run, history_bytes: int) -> dict[str, Any]:
    wait_kind, wait_reason = wait(run)
    running = not run.is_terminal
    started = iso_micros(run.started_at)
    duration = int((run.closed_at - run.started_at).total_seconds() * 1000) if run.closed_at is not None else None
    return {
        "status": run.status,
        "status_bucket": run.status_bucket,
        "closed_reason": run.status if run.is_terminal else None,
        "archived_at": None,
        "archive_command_id": None,
        "archive_reason": None,
        "business_key": None,
        "visibility_labels": [],
        "search_attributes": [],
        "is_current_run": run is wf.current_run,
        "started_at": started,
        "closed_at": iso_micros(run.closed_at),
        "duration_ms": duration,
        "wait_kind": wait_kind,
        "wait_reason": wait_reason,
        "wait_started_at": started if running else None,
        "wait_deadline_at": None,
        "open_wait_id": f"workflow-task:{run.task_id}" if running else None,
        "resume_source_kind": "workflow_task" if running else None,
        "resume_source_id": run.task_id if running else None,
        "next_task_at": started if running else None,
        "next_task_id": run.task_id if running else None,
        "next_task_type": "workflow" if running else None,
        "next_task_status": "ready" if running else None,
        "next_task_lease_expires_at": None,
        "liveness_state": "workflow_task_ready" if running else "closed",
        "liveness_reason": f"Workflow task {run.task_id} is ready to run." if running else "Run is closed.",
        "repair_attention": False,
        "task_problem": False,
        "task_problem_badge": None,
        "exception_count": 1 if run.status == "failed" else 0,
        "history_event_count": len(run.events),
        "history_size_bytes": history_bytes,
        "continue_as_new_recommended": False,
        "sort_timestamp": started,
        "sort_key": f"{started}#{run.run_id}",
    }


def build_export(ctx: EmulatorContext, wf: Workflow, run: Run) -> dict[str, Any]:
    events = [
        {
            "id": e.event_id,
            "sequence": e.sequence,
            "type": e.event_type,
            "workflow_task_id": None,
            "workflow_command_id": e.command_id,
            "recorded_at": iso_micros(e.timestamp),
            "payload": ctx.present(run.namespace, e.payload),
        }
        for e in run.events
    ]
    presented_input = ctx.present(run.namespace, run.input_envelope)
    presented_output = ctx.present(run.namespace, run.output_envelope)
    input_data = _blob(presented_input) if ctx.inline_payloads else presented_input
    output_data = _blob(presented_output) if ctx.inline_payloads else presented_output
    commands, timeline_command = _commands(run, input_data)
    last_seq = run.events[-1].sequence if run.events else 0
    last_progress = iso_micros(run.events[-1].timestamp) if run.events else None
    bundle: dict[str, Any] = {
        "schema": HISTORY_EXPORT_SCHEMA,
        "schema_version": 1,
        "exported_at": iso_micros(ctx.state.now()),
        "dedupe_key": f"{run.run_id}:{last_seq}:{last_progress}",
        "history_complete": run.is_terminal,
        "workflow": _workflow_section(wf, run, last_seq, last_progress),
        "payloads": {
            "codec": "avro",
            "arguments": {"available": input_data is not None, "data": input_data},
            "output": {"available": output_data is not None, "data": output_data},
        },
        "summary": _summary_section(wf, run, len(json.dumps(events))),
        "selected_run": {
            "waits_projection_source": "workflow_run_waits",
            "timeline_projection_source": "workflow_run_timeline_entries",
            "timers_projection_source": "workflow_run_timer_entries",
            "timers_projection_rebuild_reasons": [],
            "lineage_projection_source": "workflow_run_lineage_entries",
        },
        "history_events": events,
        "waits": [],
        "timeline": [_timeline_entry(run, e, timeline_command if e.sequence <= 2 else None) for e in run.events],
        "linked_intakes_scope": "selected_run",
        "linked_intakes": [],
        "commands": commands,
        "signals": [],
        "updates": [],
        "tasks": [_task(run)],
        "activities": [],
        "timers": [],
        "failures": [],
        "links": {"projection_source": "workflow_run_lineage_entries", "parents": [], "children": []},
        "redaction": {"applied": False, "policy": None, "paths": []},
        "codec_schemas": CODEC_SCHEMAS,
        "payload_manifest": {
            "version": 1,
            "entries": [
                _manifest_entry("payloads.arguments.data", input_data),
                _manifest_entry("payloads.output.data", output_data),
                _manifest_entry("commands.0.payload", input_data),
            ],
        },
    }
    bundle["integrity"] = {
        "canonicalization": "json-recursive-ksort-v1",
        "checksum_algorithm": "sha256",
        "checksum": checksum(bundle),
        "signature_algorithm": None,
        "signature": None,
        "key_id": None,
    }
    return bundle
