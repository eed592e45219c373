"""Minimal ``POST /api/workflows`` (start) so real SDK clients can create runs carrying offloaded input.

Accepted input envelopes: inline ``{codec, blob}`` (externalized through the namespace driver when
larger than the policy threshold, as the server does), Gen A ``{codec, external_storage}`` (must be
readable through the namespace driver and match its size/sha256; a ``file://`` URI outside the local
root is refused like the real server) and Gen B ``{codec, external_payload}`` (claimed).
No worker ever picks the run up: it stays ``pending``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import ids
from ..codec import framing
from ..context import BODY, CTX, NAMESPACE, EmulatorContext
from ..contract import OPERATOR
from ..events import RunSpec, build_events
from ..payloads import (
    is_runtime_envelope,
    is_storage_envelope,
    sha256_hex,
    storage_envelope,
    storage_reference,
)
from ..registry import TransportFailure
from ..responses import (
    control_plane_block,
    control_plane_refusal,
    json_response,
    transport_error,
    unknown_avro_prefix,
    validation_failed,
)
from ..routing import RouteMeta, route
from ..state import Run, Workflow
from ..storage import StorageError
from ..validation import normalise_input, validate

START_SUCCESS = ("workflow_id", "outcome")


class InputRejected(Exception):
    """A start input the server refuses with 422; `field` is where the real server files the error."""

    def __init__(self, message: str, field: str = "input") -> None:
        super().__init__(message)
        self.field = field


class UnknownAvroPrefix(Exception):
    """The captured server cannot decode SDK 2.x single-object Avro (it answers 500)."""


def _check_framing(ctx: EmulatorContext, blob: str) -> None:
    if ctx.captured and framing(blob) == "single_object":
        raise UnknownAvroPrefix()


def _externalize_inline(ctx: EmulatorContext, namespace: str, envelope: dict[str, Any]) -> dict[str, Any]:
    ns = ctx.state.namespace(namespace)
    policy = (ns.external_payload_storage if ns else None) or {}
    blob = envelope.get("blob")
    if not isinstance(blob, str):
        raise InputRejected("The input envelope blob must be a string.")
    _check_framing(ctx, blob)
    data = blob.encode("utf-8")
    threshold = int(policy.get("threshold_bytes") or ctx.limits.max_payload_bytes)
    driver = ctx.resolution(namespace).driver
    if len(data) <= threshold or driver is None:
        return dict(envelope)
    codec = str(envelope.get("codec") or "avro")
    uri = driver.put(data, sha256_hex(data), codec)
    if ctx.gen_b:
        ctx.registry.register_retained(namespace, uri, codec, sha256_hex(data), len(data))
    return storage_envelope(storage_reference(uri, data, codec))


def _accept_reference(ctx: EmulatorContext, namespace: str, envelope: dict[str, Any]) -> dict[str, Any]:
    reference = envelope["external_storage"]
    if not isinstance(reference.get("uri"), str) or not isinstance(reference.get("size_bytes"), int):
        raise InputRejected("The external payload reference is invalid.")
    driver = ctx.resolution(namespace).driver
    if driver is None:
        raise InputRejected("External payload references require an external storage driver.", "input.external_storage")
    try:
        data = driver.get(reference["uri"])
    except StorageError as exc:
        raise InputRejected(str(exc), "workflow_type") from exc
    if len(data) != reference["size_bytes"] or sha256_hex(data) != str(reference.get("sha256", "")).lower():
        raise InputRejected("External payload bytes do not match their reference.", "workflow_type")
    codec = envelope.get("codec", reference.get("codec", "avro"))
    if ctx.captured:  # it copies the bytes inline at start and keeps no reference (§12)
        blob = data.decode("utf-8", errors="replace")
        _check_framing(ctx, blob)
        return {"codec": codec, "blob": blob}
    return {"codec": codec, "external_storage": dict(reference)}


def accept_input(ctx: EmulatorContext, namespace: str, envelope: Any) -> dict[str, Any] | None:
    if envelope is None:
        return None
    if not isinstance(envelope, dict):
        raise InputRejected("The input must be a payload envelope.")
    if is_runtime_envelope(envelope):
        return ctx.registry.claim(namespace, envelope["external_payload"])
    if is_storage_envelope(envelope):
        return _accept_reference(ctx, namespace, envelope)
    return _externalize_inline(ctx, namespace, envelope)


@route(RouteMeta(roles=OPERATOR, json_body=True))
async def start_workflow(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    namespace = request[NAMESPACE]
    raw = request[BODY]
    data = normalise_input({k: v for k, v in raw.items() if k != "input"})
    errors = validate(
        data,
        {
            "workflow_id": ["nullable", "string", "max:191"],
            "workflow_type": ["required", "string", "max:255"],
            "task_queue": ["nullable", "string", "max:255"],
        },
    )
    if errors:
        return validation_failed(errors)
    workflow_id = str(data.get("workflow_id") or ids.run_id())
    with ctx.state.lock:
        existing = ctx.state.workflow(namespace, workflow_id)
        if existing is not None:
            return json_response(
                {
                    "message": f"Workflow instance [{workflow_id}] has already been started.",
                    "reason": "instance_already_started",
                    "workflow_id": workflow_id,
                    "run_id": existing.current_run.run_id,
                },
                409,
            )
        try:
            envelope = accept_input(ctx, namespace, raw.get("input"))
        except TransportFailure as exc:
            return transport_error(exc.reason, exc.status, exc.message, retryable=exc.retryable)
        except UnknownAvroPrefix:
            return unknown_avro_prefix(0xC3)
        except InputRejected as exc:
            return control_plane_refusal("start", {exc.field: [str(exc)]}, success_fields=START_SUCCESS)
        except StorageError as exc:
            return control_plane_refusal("start", {"workflow_type": [str(exc)]}, success_fields=START_SUCCESS)
        now = ctx.state.now()
        run = Run(
            run_id=ids.run_id(),
            workflow_id=workflow_id,
            namespace=namespace,
            workflow_type=str(data["workflow_type"]),
            status="pending",
            task_queue=str(data.get("task_queue") or "default"),
            started_at=now,
            closed_at=None,
            input_envelope=envelope,
            command_id=ids.run_id(),
            task_id=ids.run_id(),
        )
        run.events = build_events(run, RunSpec())
        ctx.state.workflows[(namespace, workflow_id)] = Workflow(workflow_id, namespace, [run])
    return json_response(
        {
            "workflow_id": workflow_id,
            "run_id": run.run_id,
            "workflow_type": run.workflow_type,
            "namespace": namespace,
            "status": run.status,
            "outcome": "started_new",
            "command_id": run.command_id,
            "control_plane": control_plane_block(
                "start", workflow_id, required_fields=["workflow_type"], run_id=run.run_id, outcome="started_new"
            ),
        },
        201,
    )


def register(router: web.UrlDispatcher) -> None:
    router.add_post("/api/workflows", start_workflow)
