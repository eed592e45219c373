"""``/api/workflows`` list, describe, runs, history pages and history export (§6.8)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..context import CTX, NAMESPACE, RenderError
from ..contract import OPERATOR
from ..export import build_export
from ..registry import TransportFailure
from ..responses import (
    control_plane_block,
    control_plane_refusal,
    json_response,
    server_error,
    transport_error,
    validation_failed,
)
from ..routing import RouteMeta, route
from ..state import Run, Workflow
from ..validation import as_integer, validate
from ..workflow_views import history_page, list_item, run_detail, runs_list

META = RouteMeta(roles=OPERATOR)
DEFAULT_LIST_PAGE_SIZE = 50
DEFAULT_HISTORY_PAGE_SIZE = 500
MAX_LIST_PAGE_SIZE = 200  # "The page size field must not be greater than 200." (captured)
OPERATION_SUCCESS_FIELDS = {"describe_run": ("run_id",), "history": ("next_page_token",)}


def encode_token(value: int) -> str:
    return base64.b64encode(str(value).encode()).decode()


def decode_token(token: str | None) -> int | None:
    if token is None or token == "":
        return 0
    try:
        text = base64.b64decode(token, validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    return int(text) if text.isdigit() else None


def _invalid_token() -> web.Response:
    return validation_failed({"next_page_token": ["The next page token field format is invalid."]})


def _not_found(request: web.Request, operation: str) -> web.Response:
    """The captured 404s: a route that names a run answers run_not_found even for an unknown workflow."""
    workflow_id = request.match_info["workflow_id"]
    run_id = request.match_info.get("run_id")
    if run_id is not None:
        message, reason = "Workflow run not found.", "run_not_found"
        body: dict[str, Any] = {"message": message, "reason": reason, "workflow_id": workflow_id, "run_id": run_id}
        block = control_plane_block(
            operation,
            workflow_id,
            required_fields=["workflow_id", "run_id"],
            success_fields=OPERATION_SUCCESS_FIELDS.get(operation, ()),
            run_id=run_id,
            reason=reason,
            message=message,
        )
    else:
        message, reason = "Workflow not found.", "instance_not_found"
        body = {"message": message, "reason": reason, "workflow_id": workflow_id}
        block = control_plane_block(
            operation, workflow_id, required_fields=["workflow_id"], reason=reason, message=message
        )
    return json_response(body | {"control_plane": block}, 404)


def guarded(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Map presentation failures the way the server surfaces them."""

    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except RenderError:
            return server_error()
        except TransportFailure as exc:
            return transport_error(exc.reason, exc.status, exc.message, retryable=exc.retryable)

    wrapper.__name__ = handler.__name__
    return wrapper


def _lookup(request: web.Request) -> tuple[Workflow | None, Run | None]:
    ctx = request.app[CTX]
    wf = ctx.state.workflow(request[NAMESPACE], request.match_info["workflow_id"])
    if wf is None:
        return None, None
    run_id = request.match_info.get("run_id")
    if run_id is None:
        return wf, wf.current_run
    return wf, next((r for r in wf.runs if r.run_id == run_id), None)


def _addressed_run(request: web.Request, operation: str) -> tuple[Workflow, Run] | web.Response:
    """The workflow and run a /runs/{run_id} route names, or the server's 404 for whichever is missing."""
    wf, run = _lookup(request)
    if wf is None or run is None:
        return _not_found(request, operation)
    return wf, run


@route(META)
@guarded
async def list_workflows(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    query = dict(request.query)
    errors = validate(query, {"page_size": ["nullable", "integer", "min:1", f"max:{MAX_LIST_PAGE_SIZE}"]})
    if errors:
        return control_plane_refusal("list", errors)
    offset = decode_token(query.get("next_page_token"))
    if offset is None:
        return _invalid_token()
    page_size = as_integer(query.get("page_size")) or DEFAULT_LIST_PAGE_SIZE
    runs = [wf.current_run for wf in ctx.state.workflows_in(request[NAMESPACE])]
    if query.get("workflow_type"):
        runs = [r for r in runs if r.workflow_type == query["workflow_type"]]
    if query.get("status"):
        runs = [r for r in runs if query["status"] in (r.status, r.status_bucket)]
    page = runs[offset : offset + page_size]
    token = encode_token(offset + page_size) if offset + page_size < len(runs) else None
    return json_response(
        {
            "workflows": [list_item(r) for r in page],
            "workflow_count": len(page),
            "next_page_token": token,
            "control_plane": control_plane_block("list", None, workflow_count=len(page), next_page_token=token),
        }
    )


@route(META)
@guarded
async def describe_workflow(request: web.Request) -> web.Response:
    wf, run = _lookup(request)
    if wf is None or run is None:
        return _not_found(request, "describe")
    return json_response(run_detail(request.app[CTX], wf, run, "describe"))


@route(META)
@guarded
async def list_runs(request: web.Request) -> web.Response:
    wf, _ = _lookup(request)
    if wf is None:
        return _not_found(request, "list_runs")
    return json_response(runs_list(wf))


@route(META)
@guarded
async def describe_run(request: web.Request) -> web.Response:
    found = _addressed_run(request, "describe_run")
    if isinstance(found, web.Response):
        return found
    wf, run = found
    return json_response(run_detail(request.app[CTX], wf, run, "describe_run"))


@route(META)
@guarded
async def history(request: web.Request) -> web.Response:
    found = _addressed_run(request, "history")
    if isinstance(found, web.Response):
        return found
    _, run = found
    query = dict(request.query)
    errors = validate(query, {"page_size": ["nullable", "integer", "min:1", "max:1000"]})
    if errors:
        return validation_failed(errors)
    after = decode_token(query.get("next_page_token"))
    if after is None:
        return _invalid_token()
    page_size = as_integer(query.get("page_size")) or DEFAULT_HISTORY_PAGE_SIZE
    body, last = history_page(request.app[CTX], run, after, page_size)
    token = encode_token(last) if last is not None else None
    body["next_page_token"] = token
    body["control_plane"] = control_plane_block(
        "history",
        run.workflow_id,
        required_fields=["workflow_id", "run_id"],
        success_fields=["next_page_token"],
        run_id=run.run_id,
        next_page_token=token,
    )
    return json_response(body)


@route(META)
@guarded
async def export(request: web.Request) -> web.Response:
    found = _addressed_run(request, "export")
    if isinstance(found, web.Response):
        return found
    wf, run = found
    return json_response(build_export(request.app[CTX], wf, run))


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/api/workflows", list_workflows)
    router.add_get("/api/workflows/{workflow_id}", describe_workflow)
    router.add_get("/api/workflows/{workflow_id}/runs", list_runs)
    router.add_get("/api/workflows/{workflow_id}/runs/{run_id}", describe_run)
    router.add_get("/api/workflows/{workflow_id}/runs/{run_id}/history", history)
    router.add_get("/api/workflows/{workflow_id}/runs/{run_id}/history/export", export)
