"""The timer handler's gate, with the passes replaced: which ticks reconcile the policy, which sweep, which only
advance the scheduled runs, which return without looking (nothing due and the body unchanged), that one tick parses
the resource once and hands the same parse to all, and how long a quiet tick rests."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any, cast

import kopf
import pytest
from kopf._core.intents.stoppers import DaemonStopper
from prometheus_client import REGISTRY

from payload_operator.api import resource as resource_module
from payload_operator.api.resource import Resource
from payload_operator.api.status import ConditionType
from payload_operator.core import metrics
from payload_operator.core.backoff import Backoff
from payload_operator.planning.conditions import true
from payload_operator.planning.status_change import StatusChange
from payload_operator.reconcile import engine
from payload_operator.reconcile.lifecycle import LifecyclePass
from payload_operator.scheduler.framework import TickResult
from tests.runs.helpers import body as stored_body

PAST, FUTURE = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"


class Passes:
    """Stand-ins for the passes the handler chooses between; they record what they were given."""

    def __init__(self, handlers: ModuleType) -> None:
        self.handlers = handlers
        self.state = engine.ResourceState(Backoff(5.0, 300.0), last_policy_check=float("-inf"))  # never checked
        self.policy: list[Resource] = []
        self.sweeps: list[Resource] = []
        self.runs: list[Resource | None] = []
        self.events: list[str] = []
        self.parses = 0
        self.runs_result = TickResult(None)

    async def reconcile_policy(self, resource: Resource, body: dict[str, Any], *_: Any, **__: Any) -> engine.PassResult:
        self.policy.append(resource)
        synced = [true(ConditionType.POLICY_SYNCED, "PolicyInSync")]
        return engine.PassResult(StatusChange(generation=resource.generation, conditions=synced), healthy=True)

    async def reconcile_lifecycle(self, kube: Any, resource: Resource, *_: Any, **__: Any) -> LifecyclePass:
        self.sweeps.append(resource)
        return LifecyclePass(StatusChange(generation=resource.generation), healthy=True)

    async def tick_runs(self, body: dict[str, Any], *_: Any, resource: Resource | None = None, **__: Any) -> TickResult:
        self.runs.append(resource)
        return self.runs_result


@pytest.fixture
def handlers() -> Iterator[ModuleType]:
    """payload_operator.handlers for this test only. Its settings are read at import, and the suite's in-process
    operator imports it with the suite's settings: so it is imported into a throwaway Kopf registry and
    forgotten afterwards (left alone when something imported it already)."""
    name = "payload_operator.handlers"
    if name in sys.modules:
        yield sys.modules[name]
        return
    registry = kopf.get_default_registry()
    kopf.set_default_registry(kopf.OperatorRegistry())
    try:
        yield importlib.import_module(name)
    finally:
        sys.modules.pop(name, None)
        kopf.set_default_registry(registry)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch, handlers: ModuleType) -> Passes:
    fake = Passes(handlers)
    parse = resource_module.resource_from_body

    def counted(body: Any) -> Resource:
        fake.parses += 1
        return parse(body)

    monkeypatch.setattr(engine, "resource_from_body", counted)
    monkeypatch.setattr(engine, "reconcile_policy", fake.reconcile_policy)
    monkeypatch.setattr(handlers, "reconcile_lifecycle", fake.reconcile_lifecycle)
    monkeypatch.setattr(handlers, "tick_runs", fake.tick_runs)
    monkeypatch.setattr(handlers, "_post_events", lambda _, notes: fake.events.extend(n.reason for n in notes))
    return fake


def _memo(passes: Passes) -> kopf.Memo:
    memo = kopf.Memo(kube=None, admission=None, runs=None, reconcile_slots=asyncio.Semaphore(1))
    memo[passes.handlers.STATE_KEY] = passes.state
    return memo


_versions = itertools.count(1)


def _changed(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` as the API server stores a changed object: with a new resourceVersion."""
    return raw | {"metadata": raw["metadata"] | {"resourceVersion": str(next(_versions))}}


def _tick_fn(passes: Passes) -> Callable[..., Coroutine[Any, Any, None]]:
    return cast(Callable[..., Coroutine[Any, Any, None]], passes.handlers.tick)


def _tick(passes: Passes, raw: dict[str, Any], memo: kopf.Memo) -> kopf.Patch:
    """One tick whose rest ends at once (its timer is stopping): what a tick decides, not how long it waits."""
    patch = kopf.Patch()

    async def stopping_tick() -> None:
        stopper = DaemonStopper()
        stopper.set()
        body = kopf.Body(cast(kopf.RawBody, raw))
        await _tick_fn(passes)(body=body, patch=patch, memo=memo, stopped=stopper.async_waiter)

    asyncio.run(stopping_tick())
    return patch


def _status_after(patch: kopf.Patch, raw: dict[str, Any]) -> dict[str, Any]:
    written = dict(raw)
    for fn in patch.fns:
        fn(written)  # type: ignore[arg-type]
    status: dict[str, Any] = written["status"]
    return status


def test_a_policy_pass_on_the_first_tick_then_only_the_runs_until_the_resync(passes: Passes) -> None:
    raw, memo = _changed(stored_body()), _memo(passes)
    _tick(passes, raw, memo)
    assert len(passes.policy) == 1
    assert passes.runs == passes.policy, "the runs get the very resource the policy pass got"
    assert passes.parses == 1, "one parse per tick"
    raw = _changed(raw)  # the status the pass wrote
    _tick(passes, raw, memo)
    assert len(passes.policy) == 1, "healthy and within the resync interval: no second pass"
    assert len(passes.runs) == 2, "a changed body: the scheduled runs advance"
    assert passes.parses == 2


def test_an_idle_tick_is_followed_by_quiet_ones_until_something_changes_or_falls_due(passes: Passes) -> None:
    raw, memo = _changed(stored_body()), _memo(passes)
    passes.runs_result = TickResult(None, next_run=datetime.now(UTC) + timedelta(hours=1))
    _tick(passes, raw, memo)
    _tick(passes, raw, memo)
    _tick(passes, raw, memo)
    assert (len(passes.policy), len(passes.runs), passes.parses) == (1, 2, 2), "the third tick returned at once"
    raw = _changed(raw)  # a run-now annotation, a spec or status change
    _tick(passes, raw, memo)
    assert (len(passes.runs), passes.parses) == (3, 3), "a new resourceVersion is looked at"
    passes.runs_result = TickResult(None, next_run=datetime.now(UTC) - timedelta(seconds=1))
    raw = _changed(raw)
    _tick(passes, raw, memo)
    _tick(passes, raw, memo)
    assert len(passes.runs) == 5, "a scheduled run that has fallen due ends the quiet spell"
    passes.runs_result = TickResult(None, busy=True)  # a run in progress is polled on every tick
    _tick(passes, raw, memo)
    _tick(passes, raw, memo)
    assert len(passes.runs) == 7
    passes.runs_result = TickResult(None)
    passes.state.last_policy_check = float("-inf")  # the resync interval has passed
    _tick(passes, raw, memo)
    assert len(passes.policy) == 2, "the resync falls due whatever the body"


def test_a_failed_pass_is_retried_on_its_backoff_not_on_the_next_tick(passes: Passes) -> None:
    raw, memo = stored_body(), _memo(passes)
    passes.state.backoff.failed(now=float("inf"))  # the next attempt lies beyond any clock
    _tick(passes, raw, memo)
    assert passes.policy == []
    assert len(passes.runs) == 1


def test_an_invalid_spec_is_reported_and_the_runs_wait(passes: Passes) -> None:
    raw, memo = stored_body(driver="nfs"), _memo(passes)
    patch = _tick(passes, raw, memo)
    assert passes.policy == [], "nothing to reconcile: the refusal is the pass"
    assert passes.runs == []
    assert passes.events == ["InvalidSpec"]
    policy = next(c for c in _status_after(patch, raw)["conditions"] if c["type"] == "PolicySynced")
    assert (policy["status"], policy["reason"]) == ("False", "InvalidSpec")
    assert passes.state.backoff.failures == 1, "retried on the backoff, never hot-looped"


def test_a_due_sweep_runs_between_policy_passes(passes: Passes) -> None:
    memo = _memo(passes)
    _tick(passes, _changed(stored_body(lifecycle={}) | {"status": {"lifecycle": {"nextSweepTime": FUTURE}}}), memo)
    assert (len(passes.policy), passes.sweeps) == (1, []), "the policy pass sweeps itself when due"
    _tick(passes, _changed(stored_body(lifecycle={}) | {"status": {"lifecycle": {"nextSweepTime": FUTURE}}}), memo)
    assert passes.sweeps == []
    _tick(passes, _changed(stored_body(lifecycle={}) | {"status": {"lifecycle": {"nextSweepTime": PAST}}}), memo)
    assert (len(passes.policy), len(passes.sweeps), len(passes.runs)) == (1, 1, 3)


def _ready_gauge(raw: dict[str, Any]) -> float | None:
    meta = raw["metadata"]
    labels = {"resource_namespace": meta["namespace"], "resource_name": meta["name"], "condition": "Ready"}
    return REGISTRY.get_sample_value("payload_operator_condition", labels)


def test_the_ready_gauge_follows_the_status_the_api_server_stored(passes: Passes) -> None:
    """Set from the body a tick sees, never from a change Kopf may still fail to write."""
    raw = stored_body(name="gauge")
    memo = _memo(passes)
    passes.state.backoff.failed(now=float("inf"))  # no pass: only what is stored counts
    _tick(passes, raw, memo)
    assert _ready_gauge(raw) == 0.0, "no Ready yet"
    ready = {"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": PAST}
    _tick(passes, _changed(raw | {"status": {"conditions": [ready]}}), memo)
    assert _ready_gauge(raw) == 1.0
    metrics.forget(raw["metadata"]["namespace"], "gauge")
    deleting = raw | {"metadata": raw["metadata"] | {"deletionTimestamp": FUTURE}}
    _tick(passes, _changed(deleting | {"status": {"conditions": [ready | {"status": "False"}]}}), memo)
    assert _ready_gauge(raw) is None, "a resource being deleted gets no series back"


def test_a_tick_works_on_a_snapshot_that_the_live_body_cannot_move(handlers: ModuleType) -> None:
    raw = stored_body()
    raw["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    observed = handlers._observe(kopf.Body(cast(kopf.RawBody, raw)))
    raw["status"]["conditions"][0]["status"] = "False"  # Kopf's live body moves while the tick awaits
    raw["spec"]["server"]["namespaces"].append("later")

    assert observed["status"]["conditions"][0]["status"] == "True"
    assert observed["spec"]["server"]["namespaces"] == ["orders"]


class Resting:
    """A settled resource whose next tick rests: its live body, its timer's stopper, and its runs stubbed."""

    def __init__(self, passes: Passes, *, next_run_in: float = 3600.0) -> None:
        self.passes = passes
        self.raw = _changed(stored_body())
        self.memo = _memo(passes)
        self.memo.runs = _ForgetfulRuns()
        self.stopper = DaemonStopper()
        passes.state.last_policy_check = float("-inf")  # its first tick reconciles
        passes.runs_result = TickResult(None, next_run=datetime.now(UTC) + timedelta(seconds=next_run_in))

    def tick(self) -> asyncio.Future[None]:
        body = kopf.Body(cast(kopf.RawBody, self.raw))  # Kopf's live view: it follows `raw`
        call = _tick_fn(self.passes)(body=body, patch=kopf.Patch(), memo=self.memo, stopped=self.stopper.async_waiter)
        return asyncio.ensure_future(call)

    async def resting(self) -> asyncio.Future[None]:
        """The tick after an idle one, once it waits: a tick that did not rest is done by then."""
        await asyncio.wait_for(self.tick(), 10)  # the policy pass
        await asyncio.wait_for(self.tick(), 10)  # nothing due: quiet from here
        rest = self.tick()
        for _ in range(50):  # loop turns, not time: the tick reaches its wait within a few
            await asyncio.sleep(0)
        assert not rest.done(), "a quiet tick rests instead of returning to Kopf's timer"
        return rest

    async def event(self, kind: str) -> None:
        """Kopf's watch delivers a change: it updates the live body, then calls the event handler."""
        self.raw["metadata"]["resourceVersion"] = str(next(_versions))
        await self.passes.handlers.notice(event={"type": kind, "object": self.raw}, memo=self.memo)


class _ForgetfulRuns:
    async def forget_resource(self, uid: str) -> None:
        """No in-process runs here."""


def test_a_resting_tick_looks_at_a_change_as_soon_as_it_arrives(passes: Passes) -> None:
    async def scenario() -> None:
        resource = Resting(passes)
        rest = await resource.resting()
        assert len(passes.runs) == 2
        await resource.event("MODIFIED")  # say, a run-now annotation
        await asyncio.wait_for(rest, 10)
        assert len(passes.runs) == 3, "the change was looked at"

    asyncio.run(scenario())


def test_a_resting_tick_wakes_when_its_quiet_spell_ends(passes: Passes) -> None:
    async def scenario() -> None:
        resource = Resting(passes, next_run_in=0.3)
        rest = await resource.resting()
        await asyncio.wait_for(rest, 10)
        assert len(passes.runs) == 3, "the scheduled run that fell due was advanced"

    asyncio.run(scenario())


def test_a_resting_tick_ends_when_its_timer_stops_or_the_resource_goes(passes: Passes) -> None:
    async def scenario() -> None:
        resource = Resting(passes)
        rest = await resource.resting()
        resource.stopper.set()  # operator exit, or another replica took the lead
        await asyncio.wait_for(rest, 10)
        assert len(passes.runs) == 2, "a stopping timer's tick returns without looking"

        resource = Resting(passes)
        rest = await resource.resting()
        await resource.event("DELETED")
        await asyncio.wait_for(rest, 10)
        assert resource.stopper.is_set(), "a deleted resource's timer is stopped"
        assert len(passes.runs) == 4, "and nothing is looked at for it"

    asyncio.run(scenario())
