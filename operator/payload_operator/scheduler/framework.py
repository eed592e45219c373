"""The scheduled-run framework's one entry point, called from the Kopf timer for each resource.

Per run kind (retention, integrity) each tick: finish the active run if its shards are all in, then
start, skip or wait according to the schedule, and describe the result as a `StatusChange`. Status is
the only durable state: the active run, the last run and skip times live there, so a restarted
operator neither loses a Job run nor starts a run twice (an in-process run that was cut short by the
restart is recorded as interrupted).

Kopf may hand a timer a body that predates the status this process just wrote. Run ids are derived
from the schedule occurrence, so such a body leads to the same run id; `RunnerState` remembers which
runs this process has finished and ignores a body that still shows one of them as active or due.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from payload_operator.adapters.kube import KubeClient, KubeError
from payload_operator.adapters.run_context import resolve_context
from payload_operator.adapters.tenancy import admission_for
from payload_operator.api.resource import Resource, resource_from_body
from payload_operator.api.results import ActiveRun, IntegrityResult, RetentionResult, RunOutcome
from payload_operator.api.spec import RunnerType
from payload_operator.api.status import ConditionType, RunBookkeeping
from payload_operator.core import metrics
from payload_operator.core.config import OperatorConfig
from payload_operator.core.run_context import Shard
from payload_operator.core.timefmt import parse_time
from payload_operator.planning.conditions import ConditionUpdate, false, true
from payload_operator.planning.policy_report import EventNote
from payload_operator.planning.schedule import (
    Action,
    ScheduleError,
    decide,
    effective_schedule,
    expected_interval,
    random_seed,
)
from payload_operator.planning.status_change import StatusChange
from payload_operator.planning.tenancy import DENIED, refusal_message
from payload_operator.reconcile.published import owner_reference
from payload_operator.scheduler import bookkeeping, collect, on_demand
from payload_operator.scheduler.inprocess_runner import InProcessRunner, RunKey, ShardWork
from payload_operator.scheduler.job_manifest import run_id_for
from payload_operator.scheduler.kinds import RunKind
from payload_operator.scheduler.results import Conclusion, ShardOutcome, conclude, failed, succeeded

log = logging.getLogger(__name__)

CONDITIONS = {"retention": ConditionType.RETENTION_SUCCEEDED, "integrity": ConditionType.INTEGRITY_VERIFIED}
DEADLINE_GRACE = timedelta(seconds=60)  # Kubernetes stops the Job first; the operator gives up a minute later
REMEMBERED_RUNS = 16
INTERRUPTED = "interrupted: the operator restarted while the run was in progress"


class RunnerState:
    """What the framework keeps in memory, operator-wide (one instance in the Kopf memo)."""

    def __init__(self, max_concurrent_shards: int = 2) -> None:
        self.in_process = InProcessRunner(max_concurrent_shards)
        self._finished: dict[tuple[str, str], deque[str]] = {}
        self._answered: dict[tuple[str, str], str] = {}

    def finished_here(self, resource_uid: str, kind: str, run_id: str) -> bool:
        """Whether this process already finished that run (so a body showing it active or due is stale)."""
        return run_id in self._finished.get((resource_uid, kind), ())

    def remember_finished(self, resource_uid: str, kind: str, run_id: str) -> None:
        """Record a run this process finished."""
        self._finished.setdefault((resource_uid, kind), deque(maxlen=REMEMBERED_RUNS)).append(run_id)

    def answered(self, resource_uid: str, kind: str, resource_version: str) -> bool:
        """Whether this process started the on-demand run a body of that version asks for (so it is stale)."""
        return self._answered.get((resource_uid, kind)) == resource_version

    def remember_answered(self, resource_uid: str, kind: str, resource_version: str) -> None:
        """Record that the run-now request seen in that version of the resource was started."""
        self._answered[(resource_uid, kind)] = resource_version

    async def forget_resource(self, resource_uid: str) -> None:
        """A resource was deleted: stop its in-process runs and drop what was remembered about it."""
        await self.in_process.forget_resource(resource_uid)
        for key in [k for k in self._finished if k[0] == resource_uid]:
            del self._finished[key]
        for key in [k for k in self._answered if k[0] == resource_uid]:
            del self._answered[key]

    async def close(self) -> None:
        """Operator shutdown: stop in-process runs (status keeps them active; the next start records them)."""
        await self.in_process.close()


async def tick_runs(
    body: dict[str, Any],
    kube: KubeClient,
    config: OperatorConfig,
    kinds: Mapping[str, RunKind[Any]],
    state: RunnerState,
    *,
    now: datetime | None = None,
    resource: Resource | None = None,
) -> TickResult:
    """Advance every run kind of one resource; the status change to apply, or None when nothing changed.

    `resource` is `body` parsed, when the caller has parsed it already (the timer parses once per tick)."""
    if resource is None:
        try:
            resource = resource_from_body(body)
        except ValidationError:
            return TickResult(None)  # the policy reconcile reports invalid specs
    now = now or datetime.now(UTC)
    status = body.get("status") or {}
    created = parse_time(body.get("metadata", {}).get("creationTimestamp")) or now
    tick = _Tick(resource=resource, body=body, kube=kube, config=config, state=state, created=created, now=now)
    # Gauges start empty after a restart: restore what status remembers.
    fields: dict[str, Any] = {}
    conditions: list[ConditionUpdate] = []
    for name, kind in kinds.items():
        outcome = await tick.advance(name, kind, status.get(name))
        if outcome is None:
            continue
        block, condition = outcome
        if block != status.get(name):
            fields[name] = block
        if condition is not None:
            conditions.append(condition)
            metrics.record_condition(resource, condition)
    generation = int(body.get("metadata", {}).get("generation") or 0)
    change = StatusChange(conditions=conditions, fields=fields, generation=generation) if fields or conditions else None
    unrunnable = {kind for kind in tick.asked if kind not in kinds or getattr(resource.spec, kind, None) is None}
    annotations = on_demand.annotation_after(tick.asked, tick.answered | unrunnable)
    return TickResult(change, tick.events, annotations, busy=tick.busy or bool(tick.asked), next_run=tick.next_run)


@dataclass
class TickResult:
    """What one tick produced: a status change (None when nothing changed) and Events to post."""

    change: StatusChange | None
    events: list[EventNote] = field(default_factory=list)
    annotations: dict[str, str | None] = field(default_factory=dict)
    """Annotations to set on the resource (None removes one): the run-now request, once answered."""
    busy: bool = False
    """A run is active or asked for, or the body was stale: the next tick must look again."""
    next_run: datetime | None = None
    """The earliest next scheduled run of any kind; None when no kind is scheduled."""


def run_events(kind: str, run_id: str, conclusion: Conclusion[Any]) -> list[EventNote]:
    """One Event per finished run; an integrity run that found damage also names the first bad keys."""
    if conclusion.outcome is RunOutcome.SUCCEEDED:
        events = [EventNote("Normal", "RunSucceeded", f"{kind} run {run_id}: {conclusion.message}")]
    else:
        reason = "RunPartiallyFailed" if conclusion.outcome is RunOutcome.PARTIALLY_FAILED else "RunFailed"
        events = [EventNote("Warning", reason, f"{kind} run {run_id}: {conclusion.message}")]
    result = conclusion.result
    if isinstance(result, IntegrityResult) and (result.missing or result.corrupt):
        keys = ", ".join(f"{entry.key} ({entry.problem})" for entry in result.bad[:5])
        counts = ", ".join(f"{v} {k}" for k, v in (("missing", result.missing), ("corrupt", result.corrupt)) if v)
        events.append(EventNote("Warning", "IntegrityViolation", f"integrity run {run_id}: {counts}: {keys}"))
    return events


def _record_metrics(resource: Resource, kind: str, conclusion: Conclusion[Any], finished: datetime) -> None:
    metrics.record_run(resource, kind, conclusion.outcome.value, finished.timestamp())
    result = conclusion.result
    if isinstance(result, IntegrityResult):
        counts = {name: getattr(result, name) for name in ("ok", "missing", "corrupt", "unreadable")}
        metrics.record_integrity_objects(resource, counts)
    if isinstance(result, RetentionResult) and result.usage is not None:
        metrics.record_usage(resource, result.usage)


class _Tick:
    """One tick of one resource (groups what every step needs)."""

    def __init__(
        self,
        *,
        resource: Resource,
        body: dict[str, Any],
        kube: KubeClient,
        config: OperatorConfig,
        state: RunnerState,
        created: datetime,
        now: datetime,
    ) -> None:
        self.resource = resource
        self.body = body
        self.kube = kube
        self.config = config
        self.state = state
        self.created = created
        self.now = now
        self.admission = admission_for(config)
        self.events: list[EventNote] = []
        self.asked = on_demand.requested(body)
        self.answered: set[str] = set()  # asked-for kinds whose run was started (a kind still running waits)
        self.version = str(body.get("metadata", {}).get("resourceVersion") or "")
        self.busy = False
        self.next_run: datetime | None = None

    async def advance(
        self, name: str, kind: RunKind[Any], raw: Any
    ) -> tuple[dict[str, object], ConditionUpdate | None] | None:
        """The kind's new status block and condition; None when the body is stale or the kind unused."""
        settings = getattr(self.resource.spec, name, None)
        if settings is None and raw is None:
            return None
        book = bookkeeping.read(raw, kind.status_model)  # an active run too damaged to finish reads as None
        condition: ConditionUpdate | None = None
        active = book.active_run
        if active is not None:
            self.busy = True  # polled on every tick until it finishes
            if self.state.finished_here(self.resource.uid, name, active.id):
                return None
            outcomes = await self._poll(name, kind, active)
            if outcomes is not None:
                book, condition = await self._finish(name, book, active, conclude(kind, outcomes, active.shards))
                active = None
        if name in self.asked and settings is not None:
            if self.state.answered(self.resource.uid, name, self.version):
                self.answered.add(name)  # started from this very body: it is stale
                return None
            if active is None:
                book, start_condition = await self._start(name, kind, book, run_id_for(self.now))
                condition = start_condition or condition
                self.state.remember_answered(self.resource.uid, name, self.version)
                self.answered.add(name)
                active = book.active_run
        if (last_success := parse_time(book.last_successful_time)) is not None:
            metrics.record_last_success(self.resource, name, last_success.timestamp())
        if isinstance(book.last_result, RetentionResult) and book.last_result.usage is not None:
            metrics.record_usage(self.resource, book.last_result.usage)
        if settings is None or settings.suspend:
            metrics.record_schedule(self.resource, name, None)
            return bookkeeping.scheduled(book, None, None).to_wire(), condition
        try:
            expression = effective_schedule(
                settings.schedule, random_seed(self.resource.namespace, self.resource.name, name)
            )
        except ScheduleError as exc:
            invalid = false(CONDITIONS[name], "InvalidSchedule", str(exc))
            return bookkeeping.scheduled(book, None, None).to_wire(), invalid
        metrics.record_schedule(self.resource, name, expected_interval(expression, self.now))
        decision = decide(
            expression,
            created=self.created,
            last_run=parse_time(book.last_run_time),
            last_skipped=parse_time(book.last_skipped_time),
            now=self.now,
            active=active is not None,
        )
        if decision.action is Action.START:
            run_id = run_id_for(decision.occurrence)
            if self.state.finished_here(self.resource.uid, name, run_id):
                self.busy = True  # the body predates the finished run's status
                return None
            book, start_condition = await self._start(name, kind, book, run_id)
            condition = start_condition or condition
        elif decision.action is Action.SKIP:
            log.info("%s/%s: %s run due but one is still active; skipped", *self._who(), name)
            book = bookkeeping.skipped(book, self.now)
        book = bookkeeping.scheduled(book, expression, decision.next_run_time)
        self.next_run = min(filter(None, (self.next_run, decision.next_run_time)))
        return book.to_wire(), condition

    def _who(self) -> tuple[str, str]:
        return self.resource.namespace, self.resource.name

    async def _poll(self, name: str, kind: RunKind[Any], active: ActiveRun) -> dict[int, ShardOutcome[Any]] | None:
        """Shard outcomes once the active run is over, else None."""
        every = range(active.shards)
        if active.runner == RunnerType.IN_PROCESS.value:
            key = RunKey(self.resource.uid, name, active.id)
            if not self.state.in_process.knows(key):
                return {i: failed(i, INTERRUPTED) for i in every}
            if self.now >= active.deadline:
                await self.state.in_process.cancel(key)
                return {i: failed(i, "deadline exceeded (activeDeadlineSeconds)") for i in every}
            outcomes = self.state.in_process.outcomes(key)
            return None if outcomes is None else {o.index: o for o in outcomes}
        try:
            observed = await collect.observe(
                self.kube, self.resource.namespace, self.resource.uid, name, active.id, job_names=active.job_names
            )
        except KubeError as exc:
            log.warning("%s/%s: cannot read %s run %s: %s", *self._who(), name, active.id, exc)
            return None
        return collect.assess(active, observed, self.now, kind.result_model)

    async def _finish(
        self, name: str, book: RunBookkeeping, run: ActiveRun, conclusion: Conclusion[Any]
    ) -> tuple[RunBookkeeping, ConditionUpdate]:
        """Record a finished run (storage usage priced as configured), and clear away what its Jobs left."""
        if isinstance(conclusion.result, RetentionResult):
            priced = conclusion.result.priced(self.config.usage_price_per_gib_month)
            conclusion = replace(conclusion, result=priced)
        self.state.remember_finished(self.resource.uid, name, run.id)
        log.info("%s/%s: %s run %s %s: %s", *self._who(), name, run.id, conclusion.outcome.value, conclusion.message)
        if run.runner == RunnerType.JOB.value:
            await collect.tidy(
                self.kube,
                self.resource.namespace,
                self.resource.uid,
                name,
                run,
                history_limit=self.resource.spec.runner.history_limit,
                stop_unfinished=self.now >= run.deadline,
            )
        self.events.extend(run_events(name, run.id, conclusion))
        _record_metrics(self.resource, name, conclusion, self.now)
        kind_condition = CONDITIONS[name]
        if conclusion.outcome is RunOutcome.SUCCEEDED:
            condition = true(kind_condition, conclusion.outcome.value, conclusion.message)
        else:
            condition = false(kind_condition, conclusion.outcome.value, conclusion.message)
        return bookkeeping.finished(book, run, conclusion, self.now), condition

    async def _start(
        self, name: str, kind: RunKind[Any], book: RunBookkeeping, run_id: str
    ) -> tuple[RunBookkeeping, ConditionUpdate | None]:
        """Start a run on the configured runner; a run that cannot even start is recorded as failed."""
        runner = self.resource.spec.runner
        run = ActiveRun(
            id=run_id,
            start_time=self.now,
            runner=runner.type,
            shards=runner.shards,
            deadline=self.now + timedelta(seconds=runner.active_deadline_seconds) + DEADLINE_GRACE,
        )
        denied = await self.admission.violations(self.resource)
        if denied:  # recorded as a failed run, so the schedule moves on instead of retrying every tick
            message = refusal_message(denied)
            refused: Conclusion[Any] = Conclusion(RunOutcome.FAILED, message)
            book, _ = await self._finish(name, bookkeeping.started(book, run), run, refused)
            return book, false(CONDITIONS[name], DENIED, message)
        log.info("%s/%s: starting %s run %s (%s, %d shards)", *self._who(), name, run_id, run.runner, run.shards)
        if runner.type is RunnerType.IN_PROCESS:
            works = [self._shard_work(kind, Shard(i, runner.shards)) for i in range(runner.shards)]
            self.state.in_process.start(RunKey(self.resource.uid, name, run_id), works)
            return bookkeeping.started(book, run), None
        try:
            names = await collect.start_jobs(
                self.kube,
                self.resource,
                owner_reference(self.body),
                name,
                run_id,
                image=self.config.job_image,
                service_account=self.config.job_service_account,
                env=self.config.tenant_environment(),
                placement=self.config.job_placement(),
                default_resources=self.config.job_resources,
            )
        except KubeError as exc:
            failure: Conclusion[Any] = Conclusion(RunOutcome.FAILED, f"could not create the run's Jobs: {exc}")
            return await self._finish(name, bookkeeping.started(book, run), run, failure)
        return bookkeeping.started(book, run.model_copy(update={"job_names": list(names)})), None

    def _shard_work(self, kind: RunKind[Any], shard: Shard) -> ShardWork:
        # The closure holds what the shard uses, not the tick: a queued shard must not keep the tick's copy of
        # the body (with its status) alive while it waits for a slot, a thousand of them in a run storm.
        kube, resource, admission = self.kube, self.resource, self.admission

        async def work() -> ShardOutcome[Any]:
            try:
                context = await resolve_context(kube, resource, shard, admission)
                return succeeded(shard, await kind.execute(context))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                where = (resource.namespace, resource.name, kind.name, shard.index, shard.count)
                log.exception("%s/%s: %s shard %d/%d failed", *where)
                return failed(shard.index, f"{type(exc).__name__}: {exc}")

        return work
