"""The ARM ManagementPolicies REST endpoints as aiohttp handlers over an in-memory account registry.

    GET|PUT|DELETE /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Storage
                   /storageAccounts/{account}/managementPolicies/default?api-version=...

Order of checks, as ARM does it: bearer token (401), api-version (400), subscription, resource group
and account (404), the caller's permission for the action (403), then the resource provider's own
answer. Errors use the ARM envelope {"error": {"code", "message"}}.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

PROVIDER_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Storage"
    r"/storageAccounts/(?P<account>[^/]+)/managementPolicies/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
ACTIONS = {"GET": "read", "PUT": "write", "DELETE": "delete"}
ACTION_PREFIX = "Microsoft.Storage/storageAccounts/managementPolicies"
MAX_RULES = 100
MAX_PREFIXES = 10
MAX_NAME = 256
BLOB_TYPES = frozenset({"blockBlob", "appendBlob"})
ALL_ACTIONS = frozenset(ACTIONS.values())


@dataclass
class Account:
    """One storage account and its (single) management policy."""

    subscription: str
    resource_group: str
    name: str
    rules: list[dict[str, Any]] | None = None
    last_modified: str = ""


@dataclass
class ArmState:
    """Accounts, tokens and an answered-request log; every method is safe from any thread."""

    tokens: dict[str, frozenset[str]] = field(default_factory=dict)
    accounts: dict[tuple[str, str, str], Account] = field(default_factory=dict)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def account(self, subscription: str, resource_group: str, name: str) -> Account | None:
        """ARM names are case-insensitive."""
        return self.accounts.get((subscription.lower(), resource_group.lower(), name.lower()))


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An ARM error envelope."""
    body = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def _unauthorized(code: str, message: str) -> web.Response:
    challenge = (
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", '
        f'error_description="{message}"'
    )
    return arm_error(401, code, message, {"WWW-Authenticate": challenge})


def validate_policy(body: Any) -> str | None:
    """Why a PUT body is not a valid management policy, or None (documented constraints only)."""
    policy = ((body or {}).get("properties") or {}).get("policy") if isinstance(body, dict) else None
    rules = policy.get("rules") if isinstance(policy, dict) else None
    if not isinstance(rules, list) or not rules:
        return "properties.policy.rules must be a non-empty list"
    if len(rules) > MAX_RULES:
        return f"a policy holds at most {MAX_RULES} rules"
    names = [r.get("name") if isinstance(r, dict) else None for r in rules]
    if len(set(names)) != len(names):
        return "rule names must be unique within a policy"
    for rule in rules:
        problem = _rule_problem(rule)
        if problem:
            return f"rule {rule.get('name')!r}: {problem}" if isinstance(rule, dict) else problem
    return None


def _rule_problem(rule: Any) -> str | None:
    if not isinstance(rule, dict):
        return "a rule must be an object"
    name = rule.get("name")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        return f"name must be 1 to {MAX_NAME} characters"
    if rule.get("type") != "Lifecycle":
        return "type must be Lifecycle"
    if "enabled" in rule and not isinstance(rule["enabled"], bool):
        return "enabled must be a boolean"
    definition = rule.get("definition")
    if not isinstance(definition, dict) or not isinstance(definition.get("actions"), dict):
        return "definition.actions is required"
    if not any(definition["actions"].get(k) for k in ("baseBlob", "snapshot", "version")):
        return "definition.actions needs baseBlob, snapshot or version"
    filters = definition.get("filters")
    if filters is None:
        return None
    blob_types = filters.get("blobTypes") if isinstance(filters, dict) else None
    if not isinstance(blob_types, list) or not blob_types or not set(blob_types) <= BLOB_TYPES:
        return "filters.blobTypes is required (blockBlob, appendBlob)"
    prefixes = filters.get("prefixMatch", [])
    if not isinstance(prefixes, list) or len(prefixes) > MAX_PREFIXES:
        return f"filters.prefixMatch takes at most {MAX_PREFIXES} prefixes"
    return None


def build_app(state: ArmState) -> web.Application:
    """The application: one catch-all route, dispatched on the ARM path."""

    def resource_id(account: Account) -> str:
        return (
            f"/subscriptions/{account.subscription}/resourceGroups/{account.resource_group}"
            f"/providers/Microsoft.Storage/storageAccounts/{account.name}/managementPolicies/default"
        )

    def policy_body(account: Account) -> dict[str, Any]:
        return {
            "id": resource_id(account),
            "name": "DefaultManagementPolicy",
            "type": "Microsoft.Storage/storageAccounts/managementPolicies",
            "properties": {"lastModifiedTime": account.last_modified, "policy": {"rules": account.rules}},
        }

    async def handle(request: web.Request) -> web.Response:
        response = await answer(request)
        with state.lock:
            state.log.append((request.method, request.path, response.status))
        return response

    async def answer(request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            return _unauthorized(
                "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        scheme, _, token = authorization.partition(" ")
        with state.lock:
            granted = state.tokens.get(token) if scheme.lower() == "bearer" else None
        if granted is None:
            return _unauthorized("InvalidAuthenticationToken", "The access token is invalid.")
        if "api-version" not in request.query:
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if not API_VERSION.match(request.query["api-version"]):
            return arm_error(
                400, "InvalidApiVersionParameter", f"The api-version '{request.query['api-version']}' is invalid."
            )
        match = PROVIDER_PATH.match(request.path)
        if match is None or request.method not in ACTIONS or match["name"] != "default":
            return arm_error(404, "HttpResourceNotFound", f"The request url {request.url} is not found.")
        with state.lock:
            account = state.account(match["sub"], match["rg"], match["account"])
            subscriptions = {key[0] for key in state.accounts}
            groups = {key[:2] for key in state.accounts}
        if match["sub"].lower() not in subscriptions:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{match['sub']}' could not be found.")
        if (match["sub"].lower(), match["rg"].lower()) not in groups:
            return arm_error(404, "ResourceGroupNotFound", f"Resource group '{match['rg']}' could not be found.")
        if account is None:
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Storage/storageAccounts/{match['account']}' under resource group "
                f"'{match['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        action = ACTIONS[request.method]
        if action not in granted:
            return arm_error(
                403,
                "AuthorizationFailed",
                f"The client does not have authorization to perform action '{ACTION_PREFIX}/{action}' over scope "
                f"'{resource_id(account)}' or the scope is invalid. If access was recently granted, please refresh "
                "your credentials.",
            )
        if request.method == "GET":
            with state.lock:
                if account.rules is None:
                    return arm_error(
                        404, "ManagementPolicyNotFound", f"No ManagementPolicy found for account {account.name}"
                    )
                return web.json_response(policy_body(account))
        if request.method == "DELETE":
            with state.lock:
                existed, account.rules = account.rules is not None, None
            return web.Response(status=200 if existed else 204)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return arm_error(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        problem = validate_policy(body)
        if problem:
            return arm_error(400, "InvalidManagementPolicyRules", problem)
        with state.lock:
            account.rules = body["properties"]["policy"]["rules"]
            account.last_modified = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            return web.json_response(policy_body(account))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
