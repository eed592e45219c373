"""One policy pass, decided without servers: the refusals that call nothing, the faults that become conditions
with a backoff, and the timer's gate (which ticks do a pass, a sweep, or nothing)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any, cast

from prometheus_client import REGISTRY

from payload_operator.adapters.kube import KubeClient, SecretNotFound
from payload_operator.adapters.tenancy import Admission
from payload_operator.api.resource import Resource
from payload_operator.core.backoff import Backoff
from payload_operator.planning.resync import RESYNC_JITTER, resync_interval
from payload_operator.planning.status_change import StatusChange
from payload_operator.planning.tenancy import DENIED, Violation
from payload_operator.reconcile import engine
from payload_operator.reconcile.engine import PassResult, ResourceState, Upkeep
from tests.runs.helpers import body as stored_body
from tests.support.status import apply_as_kopf

S3: dict[str, Any] = {
    "driver": "s3",
    "local": None,
    "s3": {"bucket": "dw-payloads", "credentialsSecretRef": {"name": "k"}},
}
RESYNC = 300.0
T0 = 10_000.0  # monotonic seconds


class NoKube:
    """These passes must decide without the API server: any call fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected call to kube.{name}")


class MissingSecretKube:
    async def read_secret_key(self, namespace: str, name: str, key: str) -> str:
        raise SecretNotFound(f"Secret {namespace}/{name} not found")


class FixedAdmission:
    def __init__(self, *violations: Violation) -> None:
        self.found = list(violations)

    async def violations(self, resource: Resource, credentials: Any = None) -> list[Violation]:
        return self.found


def _state() -> ResourceState:
    return ResourceState(Backoff(5.0, 300.0))


def _pass(body: dict[str, Any], kube: object, state: ResourceState, admission: object = None) -> PassResult:
    parsed = engine.parse(body)
    assert isinstance(parsed, Resource), parsed
    allowed = admission or FixedAdmission()
    return asyncio.run(
        engine.reconcile_policy(
            parsed, body, cast(KubeClient, kube), state, cast(Admission, allowed), namespace_concurrency=4
        )
    )


def _conditions(result: PassResult) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status.value, c.reason) for c in result.change.conditions}


def _gauge(body: dict[str, Any], condition: str) -> float | None:
    meta = body["metadata"]
    labels = {"resource_namespace": meta["namespace"], "resource_name": meta["name"], "condition": condition}
    return REGISTRY.get_sample_value("payload_operator_condition", labels)


def test_an_invalid_spec_is_refused_with_the_field_named_and_its_value_kept_out() -> None:
    body = stored_body(server={"url": "sk-live-123 is no url", "tokenSecretRef": {"name": "t"}, "namespaces": []})
    body["metadata"]["generation"] = 7
    refused = engine.parse(body)
    assert isinstance(refused, PassResult)
    assert _conditions(refused) == {"PolicySynced": ("False", "InvalidSpec")}
    (condition,) = refused.change.conditions
    assert "spec.server" in condition.message
    assert "sk-live-123" not in condition.message
    assert (refused.change.generation, refused.change.completes_reconcile) == (7, True)
    assert [(e.type, e.reason) for e in refused.events] == [("Warning", "InvalidSpec")]


def test_moving_a_bound_resource_to_other_storage_is_refused_without_a_call() -> None:
    body = stored_body() | {"status": {"bound": {"driver": "local", "bucket": "/srv/elsewhere"}}}
    result = _pass(body, NoKube(), _state())
    assert _conditions(result) == {"PolicySynced": ("False", "ImmutableFieldChanged")}
    assert "was /srv/elsewhere" in result.change.conditions[0].message
    assert [e.reason for e in result.events] == ["ImmutableFieldChanged"]
    assert not result.healthy


def test_a_refused_resource_says_why_on_every_input_of_ready_and_is_announced_once_per_generation() -> None:
    body = stored_body(lifecycle={})
    state = _state()
    refusal = FixedAdmission(Violation("spec.local.path", "not under a granted root", "localRoots"))
    first = _pass(body, NoKube(), state, refusal)
    assert _conditions(first) == {
        "PolicySynced": ("False", DENIED),
        "StorageReachable": ("Unknown", DENIED),
        "LifecycleSynced": ("Unknown", DENIED),
    }
    assert [e.reason for e in first.events] == [DENIED]
    apply_as_kopf(first.change, body)
    ready = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", DENIED), "not Reconciling: nothing else will come"
    again = _pass(body, NoKube(), state, refusal)
    assert again.events == [], "the same generation is not announced twice"


def test_a_missing_secret_becomes_a_false_condition_its_gauge_and_a_growing_backoff() -> None:
    body = stored_body(name="missing-secret")
    state = _state()
    result = _pass(body, MissingSecretKube(), state)
    assert _conditions(result) == {"PolicySynced": ("False", "SecretNotFound")}
    assert not result.healthy
    assert _gauge(body, "PolicySynced") == 0.0
    engine.record_outcome(state, result, now=T0)
    assert 4.0 <= state.backoff.next_attempt - T0 <= 6.0, "the base, 5 s, with jitter"
    engine.record_outcome(state, result, now=T0)
    assert 8.0 <= state.backoff.next_attempt - T0 <= 12.0, "then twice that"


# --------------------------------------------------------------------------------------------- the timer's gate
def _healthy(state: ResourceState, at: float) -> None:
    engine.record_outcome(state, PassResult(StatusChange(generation=1), healthy=True), now=at)


def test_a_healthy_resource_is_checked_again_only_after_its_resync_interval_and_jitter() -> None:
    resource = engine.parse(stored_body())
    assert isinstance(resource, Resource)
    interval = resync_interval(RESYNC, resource.uid)
    assert RESYNC <= interval < RESYNC * (1 + RESYNC_JITTER), "stretched, never shortened"
    state = _state()
    assert engine.upkeep_due(state, resource, {}, T0) is Upkeep.POLICY, "never checked by this process"
    _healthy(state, T0)
    assert engine.upkeep_due(state, resource, {}, T0 + interval - 0.01) is Upkeep.NOTHING
    assert engine.upkeep_due(state, resource, {}, T0 + interval + 0.01) is Upkeep.POLICY


def test_resources_applied_together_get_different_resync_intervals() -> None:
    intervals = [resync_interval(RESYNC, f"uid-{n}") for n in range(100)]
    assert intervals == [resync_interval(RESYNC, f"uid-{n}") for n in range(100)], "stable across ticks and restarts"
    assert len(set(intervals)) == 100
    assert max(intervals) - min(intervals) > RESYNC * RESYNC_JITTER * 0.9, "spread over the whole jitter"


def test_a_failing_resource_is_retried_when_its_backoff_allows_not_before() -> None:
    resource = engine.parse(stored_body())
    state = _state()
    failed = PassResult(StatusChange(generation=1), healthy=False, retry_after=60.0)
    engine.record_outcome(state, failed, now=T0)
    assert engine.upkeep_due(state, resource, {}, T0 + 59.9) is Upkeep.NOTHING, "Retry-After: 60 is honoured"
    assert engine.upkeep_due(state, resource, {}, T0 + 60) is Upkeep.POLICY, "well before the resync interval"


def test_an_invalid_spec_is_reported_again_on_the_default_interval() -> None:
    refused = engine.parse(stored_body(driver="nfs"))
    assert isinstance(refused, PassResult)
    state = _state()
    _healthy(state, T0)
    assert engine.upkeep_due(state, refused, {}, T0 + RESYNC - 1) is Upkeep.NOTHING
    assert engine.upkeep_due(state, refused, {}, T0 + RESYNC) is Upkeep.POLICY


def _sweep_status(next_sweep: str) -> dict[str, Any]:
    return {"lifecycle": {"nextSweepTime": next_sweep}}


def test_a_due_tmp_sweep_runs_between_policy_passes_only_in_sweep_mode() -> None:
    state = _state()
    _healthy(state, T0)
    between = T0 + 1
    swept = engine.parse(stored_body(lifecycle={}))  # the local driver has no bucket rules: Sweep mode
    assert engine.upkeep_due(state, swept, _sweep_status("2000-01-01T00:00:00Z"), between) is Upkeep.SWEEP
    assert engine.upkeep_due(state, swept, _sweep_status("2999-01-01T00:00:00Z"), between) is Upkeep.NOTHING
    native = engine.parse(copy.deepcopy(stored_body(lifecycle={}, **S3)))
    assert engine.upkeep_due(state, native, _sweep_status("2000-01-01T00:00:00Z"), between) is Upkeep.NOTHING
    off = engine.parse(stored_body(lifecycle={"enabled": False}))
    assert engine.upkeep_due(state, off, _sweep_status("2000-01-01T00:00:00Z"), between) is Upkeep.NOTHING
