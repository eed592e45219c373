"""``/api/namespaces`` and ``PUT /api/namespaces/{name}/external-storage`` (§6.1, §6.2)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..context import BODY, CTX, EmulatorContext
from ..contract import ADMIN, GEN_A_CONFIG_LIMITS, GEN_A_DRIVERS, GEN_B_CONFIG_LIMITS, GEN_B_DRIVERS, OPERATOR
from ..responses import iso_seconds, json_response, namespace_not_found, validation_failed
from ..routing import RouteMeta, route
from ..state import Namespace
from ..storage import policy_config
from ..validation import as_boolean, as_integer, normalise_input, validate

NS_META = RouteMeta(roles=OPERATOR, namespace_required=False)
NS_ADMIN_META = RouteMeta(roles=ADMIN, namespace_required=False, json_body=True)


def namespace_object(ctx: EmulatorContext, ns: Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"name": ns.name, "description": ns.description}
    if ctx.gen_b:
        body["retention_mode"] = ns.retention_mode
    body.update(
        {
            "retention_days": ns.retention_days,
            "status": ns.status,
            "external_payload_storage": ns.external_payload_storage,
            "created_at": iso_seconds(ns.created_at),
            "updated_at": iso_seconds(ns.updated_at),
        }
    )
    return body


def policy_rules(ctx: EmulatorContext) -> dict[str, list[str]]:
    drivers = GEN_B_DRIVERS if ctx.gen_b else GEN_A_DRIVERS
    rules: dict[str, list[str]] = {
        "driver": ["required", "string", "in:" + ",".join(drivers)],
        "enabled": ["sometimes", "boolean"],
        "threshold_bytes": ["nullable", "integer", "min:1"],
        "config": ["nullable", "array"],
    }
    for key, limit in config_limits(ctx).items():
        rules[f"config.{key}"] = ["nullable", "string", f"max:{limit}"]
    return rules


def config_limits(ctx: EmulatorContext) -> dict[str, int]:
    return GEN_B_CONFIG_LIMITS if ctx.gen_b else GEN_A_CONFIG_LIMITS


def build_policy(ctx: EmulatorContext, data: dict[str, Any]) -> dict[str, Any]:
    """The stored JSON: ``{driver, enabled[, threshold_bytes][, config]}`` (PUT replaces)."""
    enabled = as_boolean(data["enabled"]) if data.get("enabled") is not None else True
    policy: dict[str, Any] = {"driver": data["driver"], "enabled": bool(enabled)}
    if data.get("threshold_bytes") is not None:
        policy["threshold_bytes"] = as_integer(data["threshold_bytes"])
    config = policy_config(data)
    kept = {k: v for k, v in config.items() if k in config_limits(ctx) and v is not None}
    if kept:
        policy["config"] = kept
    return policy


@route(NS_META)
async def list_namespaces(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    with ctx.state.lock:
        items = [namespace_object(ctx, ns) for ns in ctx.state.namespaces.values()]
    return json_response({"namespaces": items})


@route(NS_META)
async def show_namespace(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    name = request.match_info["name"].lower()
    ns = ctx.state.namespace(name)
    if ns is None:
        return namespace_not_found(name, resolver=False)
    return json_response(namespace_object(ctx, ns))


@route(NS_ADMIN_META)
async def create_namespace(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    data = normalise_input(request[BODY])
    errors = validate(
        data,
        {
            "name": ["required", "string", "max:128", "regex:/^[a-zA-Z0-9._-]+$/"],
            "description": ["nullable", "string", "max:1000"],
            "retention_days": ["nullable", "integer", "min:1", "max:365"],
        },
    )
    if errors:
        return validation_failed(errors)
    name = str(data["name"]).lower()
    with ctx.state.lock:
        if ctx.state.namespace(name) is not None:
            return json_response(
                {
                    "message": "Namespace already exists.",
                    "reason": "namespace_already_exists",
                    "namespace": name,
                },
                409,
            )
        retention = as_integer(data.get("retention_days")) or ctx.limits.default_retention_days
        ns = ctx.state.add_namespace(name, description=data.get("description"), retention_days=retention)
    created = namespace_object(ctx, ns)
    del created["updated_at"]  # the creation answer has no updated_at (captured)
    return json_response(created, 201)


@route(NS_ADMIN_META)
async def put_external_storage(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    name = request.match_info["name"].lower()
    ns = ctx.state.namespace(name)
    if ns is None:
        return namespace_not_found(name, resolver=False)
    data = normalise_input(request[BODY])
    errors = validate(data, policy_rules(ctx))
    if errors:
        return validation_failed(errors)
    with ctx.state.lock:
        ns.external_payload_storage = build_policy(ctx, data)
        ns.updated_at = ctx.state.now()
    return json_response(namespace_object(ctx, ns))


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/api/namespaces", list_namespaces)
    router.add_post("/api/namespaces", create_namespace)
    router.add_get("/api/namespaces/{name}", show_namespace)
    router.add_put("/api/namespaces/{name}/external-storage", put_external_storage)
