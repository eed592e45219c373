"""Manifests and kubectl-level helpers shared by the drills (the e2e helpers, generalised to many resources)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from devkit.cluster import Cluster
from devkit.manifests import eps_manifest as eps
from devkit.manifests import s3_secret, token_secret
from devkit.waiting import wait_for

from tests.e2e.conftest import apply, condition, get_eps

__all__ = ["apply", "condition", "eps", "get_eps", "patch_spec", "s3_secret", "token_secret", "wait_all"]


def patch_spec(cluster: Cluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    """`kubectl patch --type=merge` of the spec, as a user edits a resource."""
    cluster.kubectl("patch", "eps", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


def current(body: dict[str, Any], kind: str, status: str, reason: str | None = None) -> bool:
    """Whether the condition has this status (and reason) for the resource's current generation."""
    found = condition(body, kind)
    return (
        found.get("status") == status
        and found.get("observedGeneration") == body["metadata"]["generation"]
        and (reason is None or found.get("reason") == reason)
    )


def wait_all(
    cluster: Cluster,
    namespace: str,
    names: Iterable[str],
    kind: str,
    status: str,
    reason: str | None = None,
    timeout: float = 60.0,
) -> dict[str, dict[str, Any]]:
    """Poll until every named resource shows the condition; returns the bodies by name."""
    pending = set(names)
    bodies: dict[str, dict[str, Any]] = {}

    def check() -> bool:
        items = cluster.api(
            "GET", f"/apis/payloads.durable-workflow.io/v1alpha1/namespaces/{namespace}/externalpayloadstorages"
        )
        for body in items["items"]:
            name = body["metadata"]["name"]
            if name in pending and current(body, kind, status, reason):
                bodies[name] = body
        return pending <= set(bodies)

    try:
        wait_for(check, timeout, interval=0.5)
    except AssertionError:
        missing = sorted(pending - set(bodies))
        seen = {n: condition(get_eps(cluster, namespace, n), kind) for n in missing[:5]}
        raise AssertionError(f"{kind}={status} {reason or ''} never reached by {missing}; last seen {seen}") from None
    return bodies
