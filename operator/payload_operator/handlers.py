"""Kopf registrations only: each handler takes the resource's lock and delegates.

Run with `payload-operator run` (or `kopf run -m payload_operator.handlers`). Timer intervals come
from `OperatorConfig`, read from the environment at import, because Kopf reads decorator arguments
before any startup handler runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from prometheus_client import start_http_server

from payload_operator.adapters import kube_login
from payload_operator.adapters.claims_watch import ClaimIndex, watch_claims
from payload_operator.adapters.import_misses import remember_missing
from payload_operator.adapters.kube import KubeClient, KubeError
from payload_operator.adapters.readiness_probe import ReadinessProbe
from payload_operator.adapters.run_context import server_ca_bundle
from payload_operator.adapters.server import ServerClient, ServerError
from payload_operator.adapters.tenancy import TenantPolicyDenied, admission_for
from payload_operator.api.resource import Resource
from payload_operator.api.spec import API_GROUP, API_VERSION, PLURAL, DeletionPolicy
from payload_operator.core import metrics
from payload_operator.core.backoff import Backoff, EndlessApiRetries
from payload_operator.core.concurrency import apply_concurrency
from payload_operator.core.config import OperatorConfig
from payload_operator.planning.policy_report import EventNote
from payload_operator.planning.readiness import is_ready
from payload_operator.reconcile import engine
from payload_operator.reconcile.lifecycle import reconcile_lifecycle, release_lifecycle
from payload_operator.reconcile.policy import disable_all
from payload_operator.reconcile.status import add
from payload_operator.scheduler.framework import RunnerState, TickResult, tick_runs
from payload_operator.scheduler.kinds import run_kinds

CONFIG = OperatorConfig()
RESOURCE = (API_GROUP, API_VERSION, PLURAL)
LOCK_KEY = "payload_operator_lock"
STATE_KEY = "payload_operator_state"
GONE_KEY = "payload_operator_gone"
QUIET_KEY = "payload_operator_quiet"
WAKE_KEY = "payload_operator_wake"
RUN_KINDS = run_kinds()


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
    """Kopf's own calls log in as our client does; Kopf runs this again after a 401 (a rotated token)."""
    credentials = kube_login.login(settings)
    return None if credentials is None else credentials.connection


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Give Kopf our identity and tuning, open the shared Kubernetes client, serve metrics."""
    remember_missing()  # before the first request: httpcore's per-lock import of an absent module
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    # Our own Events carry reasons; Kopf's per-line Events would flood (dask-kubernetes#945).
    settings.posting.level = logging.ERROR
    apply_concurrency(settings, memo, CONFIG)
    settings.networking.error_backoffs = EndlessApiRetries()  # an API outage is waited out, never a restart loop
    # Explicit watch timeouts so a silently dropped watch is noticed (kopf#585).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    credentials = kube_login.login(settings)
    if credentials is None:
        raise kopf.PermanentError("no Kubernetes credentials: neither a service account nor a kubeconfig")
    memo.kube = KubeClient.from_connection(
        credentials.connection, token_file=credentials.token_file, pinned_secrets=CONFIG.pinned_secrets
    )
    memo.claims = watch_claims(memo.kube)  # every resource's bucket and prefix, for the lifecycle rule syncs
    memo.runs = RunnerState(CONFIG.max_in_process_shards)  # scheduled runs: shared by every resource
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
    claims: ClaimIndex | None = memo.get("claims")
    if claims is not None:
        await claims.stop()
    kube: KubeClient | None = memo.get("kube")
    if kube is not None:
        await kube.aclose()


def _lock(memo: kopf.Memo) -> asyncio.Lock:
    lock: asyncio.Lock = memo.setdefault(LOCK_KEY, asyncio.Lock())
    return lock


@contextlib.asynccontextmanager
async def _turn(memo: kopf.Memo) -> AsyncIterator[None]:
    """This resource's lock, then one of the operator-wide reconcile slots (max_reconcile_workers)."""
    async with _lock(memo), memo.reconcile_slots:
        yield


def _state(memo: kopf.Memo) -> engine.ResourceState:
    state: engine.ResourceState = memo.setdefault(
        STATE_KEY, engine.ResourceState(Backoff(CONFIG.backoff_base, CONFIG.backoff_max))
    )
    return state


def _post_events(observed: dict[str, Any], notes: Iterable[EventNote]) -> None:
    for note in notes:
        kopf.event(kopf.Body(cast(kopf.RawBody, observed)), type=note.type, reason=note.reason, message=note.message)


def _observe(body: kopf.Body) -> dict[str, Any]:
    """This call's one snapshot of the body (Kopf's is a live view that may move while we await).

    A JSON round trip, not a deep copy: the body is JSON as the API server sent it, and every tick of every
    resource takes a snapshot (2.4x faster on a settled body; deepcopy was the largest item of a tick's CPU).
    The Ready gauge is set from it: status as the API server stored it is the status known to be applied."""
    observed: dict[str, Any] = json.loads(json.dumps(dict(body)))
    metadata = observed.get("metadata") or {}
    if not metadata.get("deletionTimestamp"):  # a deleted resource's series stay dropped
        metrics.record_ready(metadata.get("namespace", ""), metadata.get("name", ""), is_ready(observed.get("status")))
    return observed


async def _policy_pass(
    observed: dict[str, Any], parsed: Resource | engine.PassResult, patch: kopf.Patch, memo: kopf.Memo
) -> None:
    state = _state(memo)
    if isinstance(parsed, engine.PassResult):
        result = parsed
    else:
        with metrics.timed_pass("policy"):
            result = await engine.reconcile_policy(
                parsed,
                observed,
                memo.kube,
                state,
                memo.admission,
                namespace_concurrency=CONFIG.namespace_sync_concurrency,
            )
    metrics.record_pass_errors("policy", result.change.conditions)
    engine.record_outcome(state, result)
    add(patch, result.change, observed)
    _post_events(observed, result.events)


async def _sweep_pass(observed: dict[str, Any], resource: Resource, patch: kopf.Patch, memo: kopf.Memo) -> None:
    with metrics.timed_pass("sweep"):
        swept = await reconcile_lifecycle(
            memo.kube, resource, observed.get("status"), spec_changed=False, sweep=True, admission=memo.admission
        )
    if swept is not None:
        metrics.record_pass_errors("sweep", swept.change.conditions)
        engine.record_conditions(resource, swept.change.conditions)
        add(patch, swept.change, observed)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """A new, changed or (after a restart) existing resource: converge now."""
    async with _turn(memo):
        observed = _observe(body)
        _state(memo).backoff.succeeded()
        await _policy_pass(observed, engine.parse(observed), patch, memo)


@dataclasses.dataclass(frozen=True)
class _Quiet:
    """A tick found nothing to do: the next tick rests while the body keeps this resourceVersion, until upkeep or
    a scheduled run falls due (monotonic seconds). Any change to the resource (spec, status, a run-now
    annotation) gives it a new resourceVersion and ends the rest (`notice`), and the tick looks again."""

    version: str
    until: float


@kopf.timer(*RESOURCE, interval=CONFIG.timer_interval, initial_delay=CONFIG.timer_interval)
async def tick(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """Level-based upkeep: retry failures on backoff, find drift on the resync interval, advance scheduled runs.

    A settled resource's tick rests until the resource changes or work falls due (`_rest`), and returns without
    copying the body when nothing did."""
    stopped: kopf.DaemonStopped = kwargs["stopped"]  # Kopf passes it to timers; its TimerFn does not declare it
    quiet: _Quiet | None = memo.get(QUIET_KEY)
    if quiet is not None:
        await _rest(body, memo, quiet, stopped)
    if memo.get(GONE_KEY):  # deleted without a finalizer (Retain): Kopf does not stop this timer, we do
        _stop(stopped)
        return
    version = _version(body)
    if quiet is not None and quiet.version == version and time.monotonic() < quiet.until:
        return
    memo[QUIET_KEY] = None
    async with _turn(memo):
        observed = _observe(body)
        parsed = engine.parse(observed)
        status = observed.get("status")
        upkeep = engine.upkeep_due(_state(memo), parsed, status, time.monotonic())
        if upkeep is engine.Upkeep.POLICY:
            await _policy_pass(observed, parsed, patch, memo)
        elif upkeep is engine.Upkeep.SWEEP and isinstance(parsed, Resource):
            await _sweep_pass(observed, parsed, patch, memo)
        if isinstance(parsed, engine.PassResult):
            return  # scheduled runs wait for a valid spec; the policy pass reports the invalid one
        # Scheduled runs (retention, integrity): payload_operator.scheduler.framework decides and records.
        with metrics.timed_pass("runs"):
            runs = await tick_runs(observed, memo.kube, CONFIG, RUN_KINDS, memo.runs, resource=parsed)
        if runs.change is not None:
            metrics.record_pass_errors("runs", runs.change.conditions)
            add(patch, runs.change, observed)
        for key, value in runs.annotations.items():  # an answered run-now request (scheduler/on_demand.py)
            patch.metadata.annotations[key] = value
        _post_events(observed, runs.events)
        if upkeep is engine.Upkeep.NOTHING and not patch and not runs.events and not runs.busy:
            upkeep_at = engine.upkeep_at(_state(memo), parsed, status, time.monotonic())
            memo[QUIET_KEY] = _quiet_until(version, upkeep_at, runs)


def _version(body: kopf.Body) -> str:
    return str(body.metadata.get("resourceVersion") or "")


async def _rest(body: kopf.Body, memo: kopf.Memo, quiet: _Quiet, stopped: kopf.DaemonStopped) -> None:
    """Wait inside a quiet tick until the resource changes (`notice` wakes it; `body` is Kopf's live view), the
    quiet spell ends, or Kopf stops the timer (operator exit, another replica leading). Kopf spends about 0.9 ms
    of CPU on every timer call (its arguments, outcome and patch), so a fleet ticking every 30 s and resyncing
    every 300 s paid that nine times per resync for nothing (docs/benchmarks.md "Scale")."""
    wake: asyncio.Event | None = memo.get(WAKE_KEY)
    if wake is None:
        wake = memo[WAKE_KEY] = asyncio.Event()
    wake.clear()  # before the checks: a change from here on ends the wait
    seconds = quiet.until - time.monotonic()
    if _version(body) != quiet.version or seconds <= 0 or memo.get(GONE_KEY) or stopped.is_set():
        return
    changed = asyncio.ensure_future(wake.wait())
    stopping = asyncio.ensure_future(stopped.wait(seconds))
    try:
        await asyncio.wait((changed, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        changed.cancel()
        stopping.cancel()


def _quiet_until(version: str, upkeep_at: float | None, runs: TickResult) -> _Quiet | None:
    """The quiet spell after an idle tick: until the earlier of the next upkeep and the next scheduled run."""
    if upkeep_at is None:
        return None
    until = upkeep_at
    if runs.next_run is not None:
        until = min(until, time.monotonic() + (runs.next_run - datetime.now(UTC)).total_seconds())
    return _Quiet(version, until)


def _without_finalizer(registry: kopf.OperatorRegistry, handler_id: str) -> None:
    """Let a timer run without holding a finalizer.

    Kopf makes every timer demand one so it can stop the timer before the object goes, and offers no
    switch (kopf#896, kopf#1074). Under Retain nothing has to happen before a resource goes, and a
    finalizer there means a resource left after an uninstall cannot be deleted. So the timer is
    registered without one, and `notice` marks a deleted resource for its timer to stop itself
    (`tests/e2e/test_finalizers.py` holds both ends, so a Kopf upgrade that changes this fails there)."""
    spawning = registry._spawning
    spawning._handlers = [
        dataclasses.replace(handler, requires_finalizer=False) if handler.id == handler_id else handler
        for handler in spawning._handlers
    ]


_without_finalizer(kopf.get_default_registry(), "tick")


def _stop(stopped: kopf.DaemonStopped) -> None:
    """Stop this resource's timer from inside it: Kopf hides the flag's setter, which it sets itself only for a
    resource that is deleted while it holds a finalizer."""
    stopped._setter.set(reason=kopf.DaemonStoppingReason.RESOURCE_DELETED)


def _deletes_policies(spec: kopf.Spec, **_: Any) -> bool:
    """Only deletionPolicy Delete has work to do before a resource goes (Retain leaves the server alone)."""
    return spec.get("deletionPolicy") == DeletionPolicy.DELETE.value


@kopf.on.event(*RESOURCE)
async def notice(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Any change ends the resting tick's wait. A resource that is gone, whatever its deletion policy: drop its
    metric series, stop its timer and its in-process runs."""
    if event["type"] == "DELETED":
        memo[GONE_KEY] = True
        metadata = event["object"]["metadata"]
        metrics.forget(metadata["namespace"], metadata["name"])
        await memo.runs.forget_resource(metadata["uid"])
    wake: asyncio.Event | None = memo.get(WAKE_KEY)
    if wake is not None:
        wake.set()


# The expected ways a deletion pass fails: they count against the bounded attempts. Anything else is a bug:
# it counts too (deletion must not hang on it), but is logged with its traceback.
DELETION_FAILURES = (KubeError, ServerError, TenantPolicyDenied)


@kopf.on.delete(*RESOURCE, when=_deletes_policies)
async def finalize(body: kopf.Body, retry: int, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """deletionPolicy Delete: disable the server policies and remove our bucket rules, with bounded retries."""
    parsed = engine.parse(json.loads(json.dumps(dict(body))))
    if isinstance(parsed, engine.PassResult):
        return  # an invalid spec never reached the server
    spec = parsed.spec
    async with _turn(memo):
        with metrics.timed_pass("deletion"):
            lifecycle_failure = await release_lifecycle(memo.kube, parsed, memo.admission)
            try:
                await memo.admission.check(parsed)
                token = await memo.kube.read_secret_key(
                    parsed.namespace, spec.server.token_secret_ref.name, spec.server.token_secret_ref.key
                )
                ca_bundle = await server_ca_bundle(memo.kube, parsed)
                peer_check = await memo.admission.server_peer_check(parsed)
                async with ServerClient.for_server(spec.server, token, ca_bundle, peer_check=peer_check) as client:
                    failures = await disable_all(client, spec)
            except DELETION_FAILURES as exc:
                failures = [str(exc)]
            except Exception as exc:
                logger.exception("disabling the server policies failed unexpectedly")
                failures = [f"unexpected {type(exc).__name__} (see the operator log)"]
    if lifecycle_failure:
        failures.append(lifecycle_failure)
    if not failures:
        logger.info("server policies disabled in %d namespace(s)", len(spec.server.namespaces))
        return
    metrics.PASS_ERRORS.labels("deletion", "DeletionFailed").inc()
    if retry + 1 < CONFIG.deletion_attempts:
        raise kopf.TemporaryError("; ".join(failures), delay=CONFIG.deletion_retry_delay)
    kopf.event(
        body,
        type="Warning",
        reason="DeletionIncomplete",
        message=f"released after {retry + 1} attempts; policies may still be enabled: {'; '.join(failures)}",
    )
