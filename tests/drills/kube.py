"""Manifests and kubectl-level helpers shared by the drills (the e2e helpers, generalised to many resources)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from devkit.cluster import Cluster
from devkit.values import ADMIN_TOKEN, S3_ACCESS_KEY, S3_SECRET_KEY
from devkit.waiting import wait_for

from tests.e2e.conftest import apply, condition, get_eps, secret_manifest

__all__ = ["apply", "condition", "eps", "get_eps", "patch_spec", "s3_secret", "token_secret", "wait_all"]


def token_secret(namespace: str, name: str = "dw-admin") -> dict[str, Any]:
    """The admin-token Secret every drill resource references."""
    return secret_manifest(namespace, name, {"token": ADMIN_TOKEN})


def s3_secret(namespace: str, name: str = "dw-s3") -> dict[str, Any]:
    """Static S3 credentials (moto accepts any; these are distinctive for the leak scans)."""
    return secret_manifest(namespace, name, {"accessKeyId": S3_ACCESS_KEY, "secretAccessKey": S3_SECRET_KEY})


def eps(
    namespace: str,
    name: str,
    *,
    url: str,
    dw_namespaces: Sequence[str] = ("orders", "billing"),
    local_root: Path | None = None,
    resync: int = 10,
    timeout: int = 2,
    **spec: Any,
) -> dict[str, Any]:
    """An ExternalPayloadStorage; local driver on `local_root` unless `spec` names another driver block."""
    body: dict[str, Any] = {
        "server": {
            "url": url,
            "tokenSecretRef": {"name": "dw-admin"},
            "namespaces": list(dw_namespaces),
            "resyncIntervalSeconds": resync,
            "requestTimeoutSeconds": timeout,
        },
        "thresholdBytes": 4096,
    }
    if local_root is not None:
        body |= {"driver": "local", "local": {"path": str(local_root)}}
    body.update(spec)
    return {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


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
