"""The Argo CD health check (examples/argocd/health.lua) on resources in each state, run by Lua."""

from __future__ import annotations

from typing import Any

from tests.ship.lua_health import health


def resource(generation: int = 2, status: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {"name": "payloads", "namespace": "workflows", "generation": generation},
        "spec": {"driver": "local"},
    }
    if status is not None:  # the operator writes observedGeneration with its conditions; tests may say otherwise
        body["status"] = ({"observedGeneration": generation} if "conditions" in status else {}) | status
    return body


def ready(state: str, observed: int | None = 2, reason: str = "Ready", message: str = "") -> dict[str, Any]:
    condition: dict[str, Any] = {"type": "Ready", "status": state, "reason": reason, "message": message}
    if observed is not None:
        condition["observedGeneration"] = observed
    return condition


def synced() -> dict[str, Any]:
    return {"type": "PolicySynced", "status": "True", "reason": "PolicyInSync", "observedGeneration": 2}


def test_new_resource_without_status_is_progressing() -> None:
    assert health(resource(status=None))[0] == "Progressing"
    assert health(resource(status={}))[0] == "Progressing"
    assert health(resource(status={"conditions": [synced()]}))[0] == "Progressing"


def test_ready_for_the_current_generation_is_healthy() -> None:
    status, message = health(resource(status={"conditions": [synced(), ready("True", message="all conditions hold")]}))
    assert status == "Healthy"
    assert message == "Ready: all conditions hold"


def test_ready_for_an_older_generation_is_still_progressing() -> None:
    status, message = health(resource(generation=3, status={"conditions": [ready("True")]}))
    assert status == "Progressing"
    assert "generation 3" in message


def test_not_ready_for_the_current_generation_is_degraded_with_the_reason() -> None:
    condition = ready("False", reason="Unauthorized", message="server answered 401 for orders")
    status, message = health(resource(status={"conditions": [condition]}))
    assert status == "Degraded"
    assert message == "Unauthorized: server answered 401 for orders"


def test_not_ready_for_an_older_generation_is_progressing_not_degraded() -> None:
    """After an edit the old failure may be fixed already: wait for the operator's verdict."""
    assert health(resource(generation=5, status={"conditions": [ready("False", observed=4)]}))[0] == "Progressing"


def test_unknown_is_progressing() -> None:
    status, message = health(resource(status={"conditions": [ready("Unknown", reason="ServerUnreachable")]}))
    assert status == "Progressing"
    assert "ServerUnreachable" in message


def test_status_observed_generation_is_the_fallback() -> None:
    current = {"observedGeneration": 2, "conditions": [ready("True", observed=None)]}
    assert health(resource(status=current))[0] == "Healthy"
    stale = {"observedGeneration": 1, "conditions": [ready("True", observed=None)]}
    assert health(resource(status=stale))[0] == "Progressing"


def test_ready_alone_is_not_enough_the_status_must_have_observed_the_generation() -> None:
    """Ready may be current while the reconcile of the newest spec has not finished (observedGeneration lags)."""
    status = {"observedGeneration": 1, "conditions": [synced(), ready("True")]}
    state, message = health(resource(generation=2, status=status))
    assert state == "Progressing"
    assert "generation 2" in message
    assert health(resource(generation=2, status=status | {"observedGeneration": 2}))[0] == "Healthy"
