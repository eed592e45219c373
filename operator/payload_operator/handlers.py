"""Kopf registrations only: each handler takes the resource's lock and delegates.

Run with `payload-operator run` (or `kopf run -m payload_operator.handlers`). Timer intervals come
from `OperatorConfig`, read from the environment at import, because Kopf reads decorator arguments
before any startup handler runs.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Iterable
from typing import Any

import kopf
from prometheus_client import start_http_server

from payload_operator.adapters.kube import KubeClient
from payload_operator.adapters.readiness_probe import ReadinessProbe
from payload_operator.adapters.run_context import server_ca_bundle
from payload_operator.adapters.server import ServerClient
from payload_operator.adapters.tenancy import admission_for
from payload_operator.api.resource import Resource
from payload_operator.api.spec import API_GROUP, API_VERSION, PLURAL, DeletionPolicy
from payload_operator.core import metrics
from payload_operator.core.backoff import Backoff
from payload_operator.core.config import OperatorConfig
from payload_operator.planning.policy_report import EventNote
from payload_operator.reconcile import engine
from payload_operator.reconcile.lifecycle import reconcile_lifecycle, release_lifecycle
from payload_operator.reconcile.policy import disable_all
from payload_operator.reconcile.status import add
from payload_operator.scheduler.framework import RunnerState, tick_runs
from payload_operator.scheduler.kinds import run_kinds

CONFIG = OperatorConfig()
RESOURCE = (API_GROUP, API_VERSION, PLURAL)
LOCK_KEY = "payload_operator_lock"
STATE_KEY = "payload_operator_state"
RUN_KINDS = run_kinds()


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Give Kopf our identity and tuning, open the shared Kubernetes client, serve metrics."""
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    # Our own Events carry reasons; Kopf's per-line Events would flood (dask-kubernetes#945).
    settings.posting.level = logging.ERROR
    settings.execution.max_workers = CONFIG.max_reconcile_workers
    # Explicit watch timeouts so a silently dropped watch is noticed (kopf#585).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    connection = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(settings=settings)
    if connection is None:
        raise kopf.PermanentError("no Kubernetes credentials: neither a service account nor a kubeconfig")
    memo.kube = KubeClient.from_connection(connection, pinned_secrets=CONFIG.pinned_secrets)
    memo.runs = RunnerState()  # scheduled runs (retention, integrity): shared by every resource
    memo.admission = admission_for(CONFIG)  # the admin's tenant policy, applied before anything is called
    if memo.get("readiness_endpoint"):  # `run --readiness`: not ready while the API server is out of reach
        memo.readiness = await ReadinessProbe.start(memo.readiness_endpoint, memo.kube, CONFIG.api_contact_max_age)
        logger.info("readiness served on %s", memo.readiness_endpoint)
    logging.getLogger("kopf.objects").addFilter(_QuietTimer())
    # httpx logs every request at INFO: two lines per resource per resync would bury what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if CONFIG.metrics_port:
        start_http_server(CONFIG.metrics_port)
        logger.info("metrics served on :%d/metrics", CONFIG.metrics_port)


class _QuietTimer(logging.Filter):
    """Drop Kopf's per-tick success line: one per resource per interval would drown everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Timer 'tick' succeeded."


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the readiness checks, close the shared client."""
    readiness: ReadinessProbe | None = memo.get("readiness")
    if readiness is not None:
        await readiness.stop()
    runs: RunnerState | None = memo.get("runs")
    if runs is not None:
        await runs.close()
    kube: KubeClient | None = memo.get("kube")
    if kube is not None:
        await kube.aclose()


def _lock(memo: kopf.Memo) -> asyncio.Lock:
    lock: asyncio.Lock = memo.setdefault(LOCK_KEY, asyncio.Lock())
    return lock


def _state(memo: kopf.Memo) -> engine.ResourceState:
    state: engine.ResourceState = memo.setdefault(
        STATE_KEY, engine.ResourceState(Backoff(CONFIG.backoff_base, CONFIG.backoff_max))
    )
    return state


def _post_events(body: kopf.Body, notes: Iterable[EventNote]) -> None:
    for note in notes:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)


async def _policy_pass(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
    state = _state(memo)
    result = await engine.reconcile_policy(copy.deepcopy(dict(body)), memo.kube, state, memo.admission)
    engine.record_outcome(state, result)
    add(patch, result.change)
    _post_events(body, result.events)


async def _sweep_pass(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, resource: Resource) -> None:
    swept = await reconcile_lifecycle(
        memo.kube, resource, body.get("status"), spec_changed=False, sweep=True, admission=memo.admission
    )
    if swept is not None:
        swept.change.generation = int(body.get("metadata", {}).get("generation") or 0)  # what it was computed for
        add(patch, swept.change)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """A new, changed or (after a restart) existing resource: converge now."""
    async with _lock(memo):
        _state(memo).backoff.succeeded()
        await _policy_pass(body, patch, memo)


@kopf.timer(*RESOURCE, interval=CONFIG.timer_interval, initial_delay=CONFIG.timer_interval)
async def tick(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Level-based upkeep: retry failures on backoff, find drift on the resync interval."""
    async with _lock(memo):
        state = _state(memo)
        parsed = engine.parse(copy.deepcopy(dict(body)))
        spec = None if isinstance(parsed, engine.PassResult) else parsed.spec
        if engine.policy_check_due(state, spec, time.monotonic()):
            await _policy_pass(body, patch, memo)
        elif not isinstance(parsed, engine.PassResult) and engine.sweep_pending(parsed, body.get("status")):
            await _sweep_pass(body, patch, memo, parsed)
        # Scheduled runs (retention, integrity): payload_operator.scheduler.framework decides and records.
        runs = await tick_runs(copy.deepcopy(dict(body)), memo.kube, CONFIG, RUN_KINDS, memo.runs)
        if runs.change is not None:
            add(patch, runs.change)
        _post_events(body, runs.events)


@kopf.on.delete(*RESOURCE)
async def finalize(body: kopf.Body, retry: int, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Retain leaves the server alone; Delete disables the policies, with bounded retries."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    metrics.forget(namespace, name)
    await memo.runs.forget_resource(body["metadata"]["uid"])
    parsed = engine.parse(copy.deepcopy(dict(body)))
    if isinstance(parsed, engine.PassResult) or parsed.spec.deletion_policy == DeletionPolicy.RETAIN:
        return
    spec = parsed.spec
    lifecycle_failure = await release_lifecycle(memo.kube, parsed, memo.admission)
    try:
        await memo.admission.check(parsed)
        token = await memo.kube.read_secret_key(
            namespace, spec.server.token_secret_ref.name, spec.server.token_secret_ref.key
        )
        ca_bundle = await server_ca_bundle(memo.kube, parsed)
        async with ServerClient.for_server(spec.server, token, ca_bundle) as client:
            failures = await disable_all(client, spec)
    except Exception as exc:  # any failure counts against the bounded attempts
        failures = [str(exc)]
    if lifecycle_failure:
        failures.append(lifecycle_failure)
    if not failures:
        logger.info("server policies disabled in %d namespace(s)", len(spec.server.namespaces))
        return
    if retry + 1 < CONFIG.deletion_attempts:
        raise kopf.TemporaryError("; ".join(failures), delay=CONFIG.deletion_retry_delay)
    kopf.event(
        body,
        type="Warning",
        reason="DeletionIncomplete",
        message=f"released after {retry + 1} attempts; policies may still be enabled: {'; '.join(failures)}",
    )
