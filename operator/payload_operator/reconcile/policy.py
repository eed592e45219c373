"""Bring every listed Durable Workflow namespace to the desired storage policy, and prove it works.

Per namespace: detect the server generation, read the policy, write it only when it differs, read
it back, and probe storage. Probing writes test objects, so a healthy resync skips it and relies on
the server's discovery status instead; that keeps settled resources free of writes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from payload_operator.adapters.server import ServerClient, ServerError, ValidationFailed
from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.planning import policy as plan
from payload_operator.planning.policy_report import NamespaceOutcome, PolicyError

# Storage-test and discovery answers that mean "storage is not usable", with our reason words.
STORAGE_REASONS = {
    "storage_driver_unavailable": "StorageDriverUnavailable",
    "driver_unavailable": "StorageDriverUnavailable",
    "external_storage_not_configured": "StorageNotConfigured",
    "unconfigured": "StorageNotConfigured",
    "external_storage_disabled": "StorageDisabled",
    "disabled": "StorageDisabled",
}


async def _probe_storage(
    client: ServerClient, spec: ExternalPayloadStorageSpec, outcome: NamespaceOutcome, env_secret: str
) -> None:
    small, large = plan.storage_test_sizes(spec)
    try:
        result = await client.storage_test(outcome.name, small, large)
    except ValidationFailed as exc:
        reason = exc.server_reason or ""
        outcome.storage_ok = False
        outcome.storage_reason = STORAGE_REASONS.get(reason, "StorageTestFailed")
        outcome.storage_message = str(exc)
        if reason == "storage_driver_unavailable":
            remedy = plan.driver_unavailable_remedy(spec, outcome.generation, env_secret)
            outcome.storage_message = f"{str(exc).rstrip('.')}: {remedy}"
        outcome.storage_status = reason or "failed"
        return
    passed = result.get("status") == "passed"
    outcome.storage_ok = passed
    outcome.storage_status = "available" if passed else str(result.get("status") or "failed")
    outcome.storage_reason = "StorageTestPassed" if passed else "StorageTestFailed"
    outcome.storage_message = f"storage test {result.get('status')} ({small} and {large} bytes)"


async def sync_namespace(
    client: ServerClient,
    spec: ExternalPayloadStorageSpec,
    namespace: str,
    *,
    manage: bool,
    probe: bool,
    env_secret: str,
) -> NamespaceOutcome:
    """One namespace: read, write when different (Manage), verify, and probe when asked or needed."""
    outcome = NamespaceOutcome(name=namespace)
    try:
        info = await client.cluster_info(namespace)
        outcome.generation = plan.detect_generation(info)
        discovered = plan.discovered_storage_status(info)
        desired = plan.desired_policy(spec, outcome.generation)
        observed: Any = (await client.get_namespace(namespace)).get("external_payload_storage")
        outcome.differences = plan.policy_differences(desired, observed)
        if outcome.differences and manage:
            stored = await client.put_external_storage(namespace, desired)
            outcome.wrote = True
            echoed = stored.get("external_payload_storage", desired)
            outcome.differences = plan.policy_differences(desired, echoed)
            if outcome.differences:
                outcome.differences = [f"read back after write: {d}" for d in outcome.differences]
            # discovery read before the write describes the old policy
            discovered = plan.discovered_storage_status(await client.cluster_info(namespace))
        outcome.in_sync = not outcome.differences
    except ServerError as exc:
        outcome.policy_error = PolicyError(exc.reason, str(exc))
        outcome.retry_after = exc.retry_after
        return outcome
    if not spec.enabled:
        outcome.storage_status = discovered or "disabled"
        outcome.storage_reason = "PolicyDisabled"
        return outcome
    try:
        if probe or outcome.wrote:
            await _probe_storage(client, spec, outcome, env_secret)
        if discovered is not None and discovered != "available":
            outcome.storage_ok = False
            outcome.storage_reason = STORAGE_REASONS.get(discovered, "StorageUnavailable")
            outcome.storage_message = f"server reports storage status {discovered}"
            outcome.storage_status = discovered
        elif discovered == "available" and outcome.storage_ok is None:
            outcome.storage_ok = True
            outcome.storage_status = discovered
            outcome.storage_reason = "StorageAvailable"
            outcome.storage_message = "server reports storage available"
    except ServerError as exc:
        outcome.storage_ok = False
        outcome.storage_reason = exc.reason
        outcome.storage_message = str(exc)
        outcome.retry_after = exc.retry_after
    return outcome


async def sync_all(
    client: ServerClient,
    spec: ExternalPayloadStorageSpec,
    *,
    manage: bool,
    probe: bool,
    env_secret: str,
    concurrency: int,
) -> list[NamespaceOutcome]:
    """Every listed namespace, `concurrency` at a time (bounding the load on the server), in the order of the
    spec; env_secret names the published server env Secret in remedies."""
    limiter = asyncio.Semaphore(concurrency)

    async def one(namespace: str) -> NamespaceOutcome:
        async with limiter:
            return await sync_namespace(client, spec, namespace, manage=manage, probe=probe, env_secret=env_secret)

    return list(await asyncio.gather(*(one(ns) for ns in spec.server.namespaces)))


async def disable_all(client: ServerClient, spec: ExternalPayloadStorageSpec) -> list[str]:
    """Deletion with deletionPolicy Delete: send the policy with enabled false; return failures."""
    failures: list[str] = []
    for namespace in spec.server.namespaces:
        try:
            info = await client.cluster_info(namespace)
            body = plan.desired_policy(spec, plan.detect_generation(info)) | {"enabled": False}
            await client.put_external_storage(namespace, body)
        except ServerError as exc:
            if exc.reason != "NamespaceNotFound":
                failures.append(f"{namespace}: {exc}")
    return failures
