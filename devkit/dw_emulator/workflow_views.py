"""JSON views of workflows and runs (list item, describe, runs, history page)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .codec import decode_blob
from .context import EmulatorContext
from .events import EXECUTION_TIMEOUT_SECONDS, RUN_TIMEOUT_SECONDS
from .responses import control_plane_block, iso_micros, iso_seconds
from .state import Run, Workflow


def _decoded(envelope: Any) -> Any:
    if isinstance(envelope, dict) and isinstance(envelope.get("blob"), str):
        return decode_blob(envelope["blob"])
    return None


def last_progress_at(run: Run) -> str | None:
    if run.events:
        return iso_seconds(run.events[-1].timestamp)
    return iso_seconds(run.started_at)


def wait(run: Run) -> tuple[str | None, str | None]:
    return (None, None) if run.is_terminal else ("workflow-task", "Workflow task ready")


def list_item(run: Run) -> dict[str, Any]:
    return {
        "workflow_id": run.workflow_id,
        "run_id": run.run_id,
        "workflow_type": run.workflow_type,
        "business_key": None,
        "status": run.status,
        "status_bucket": run.status_bucket,
        "task_queue": run.task_queue,
        "is_terminal": run.is_terminal,
        "started_at": iso_micros(run.started_at),
        "closed_at": iso_micros(run.closed_at),
        "search_attributes": [],
    }


def _actions(run: Run) -> dict[str, bool]:
    running = not run.is_terminal
    return {
        "can_signal": running,
        "can_query": False,
        "can_update": False,
        "can_cancel": running,
        "can_terminate": running,
        "can_repair": running,
        "can_archive": run.is_terminal and not run.archived,
    }


def run_detail(ctx: EmulatorContext, wf: Workflow, run: Run, operation: str) -> dict[str, Any]:
    """``GET /api/workflows/{id}`` (current run) and ``GET /api/workflows/{id}/runs/{runId}``."""
    input_envelope = ctx.present(run.namespace, run.input_envelope)
    output_envelope = ctx.present(run.namespace, run.output_envelope)
    wait_kind, wait_reason = wait(run)
    started = run.started_at
    projected: dict[str, Any] = {
        "run_id": run.run_id,
        "workflow_type": run.workflow_type,
        "namespace": run.namespace,
        "business_key": None,
        "status": run.status,
        "status_bucket": run.status_bucket,
        "is_terminal": run.is_terminal,
        "task_queue": run.task_queue,
        "run_number": run.run_number,
        "run_count": len(wf.runs),
        "is_current_run": run is wf.current_run,
        "compatibility": None,
        "started_at": iso_micros(run.started_at),
        "closed_at": iso_micros(run.closed_at),
        "last_progress_at": last_progress_at(run),
        "wait_kind": wait_kind,
        "wait_reason": wait_reason,
    }
    return {
        "workflow_id": run.workflow_id,
        "run_id": run.run_id,
        "namespace": run.namespace,
        "workflow_type": run.workflow_type,
        "business_key": None,
        "status": run.status,
        "status_bucket": run.status_bucket,
        "is_terminal": run.is_terminal,
        "closed_reason": run.status if run.is_terminal else None,
        "task_queue": run.task_queue,
        "run_number": run.run_number,
        "run_count": len(wf.runs),
        "is_current_run": run is wf.current_run,
        "compatibility": None,
        "payload_codec": "avro",
        "execution_timeout_seconds": EXECUTION_TIMEOUT_SECONDS,
        "run_timeout_seconds": RUN_TIMEOUT_SECONDS,
        "execution_deadline_at": iso_seconds(started + timedelta(seconds=EXECUTION_TIMEOUT_SECONDS)),
        "run_deadline_at": iso_seconds(started + timedelta(seconds=RUN_TIMEOUT_SECONDS)),
        "input": _decoded(input_envelope),
        "output": _decoded(output_envelope),
        "input_envelope": input_envelope,
        "output_envelope": output_envelope,
        "started_at": iso_micros(run.started_at),
        "closed_at": iso_micros(run.closed_at),
        "last_progress_at": last_progress_at(run),
        "wait_kind": wait_kind,
        "wait_reason": wait_reason,
        "memo": [],
        "search_attributes": [],
        "actions": _actions(run),
        "control_plane": control_plane_block(
            operation,
            run.workflow_id,
            required_fields=["workflow_id"],
            success_fields=["run_id"] if operation == "describe_run" else [],
            **projected,
        ),
    }


def runs_list(wf: Workflow) -> dict[str, Any]:
    runs = [
        {
            "run_id": run.run_id,
            "run_number": run.run_number,
            "workflow_type": run.workflow_type,
            "business_key": None,
            "status": run.status,
            "task_queue": run.task_queue,
            "started_at": iso_micros(run.started_at),
            "closed_at": iso_micros(run.closed_at),
        }
        for run in wf.runs
    ]
    return {
        "workflow_id": wf.workflow_id,
        "run_count": len(wf.runs),
        "runs": runs,
        "control_plane": control_plane_block(
            "list_runs", wf.workflow_id, required_fields=["workflow_id"], run_count=len(wf.runs)
        ),
    }


def history_page(ctx: EmulatorContext, run: Run, after: int, page_size: int) -> tuple[dict[str, Any], int | None]:
    """Events with ``sequence > after``; returns the body and the last sequence when more remain."""
    remaining = [e for e in run.events if e.sequence > after]
    page = remaining[:page_size]
    more = len(remaining) > page_size
    last = page[-1].sequence if page and more else None
    events = [
        {
            "sequence": e.sequence,
            "event_type": e.event_type,
            "timestamp": iso_micros(e.timestamp),
            "payload": ctx.present(run.namespace, e.payload),
        }
        for e in page
    ]
    return {"workflow_id": run.workflow_id, "run_id": run.run_id, "events": events}, last
