"""Finalizers: only a resource with deletion work holds one, so a Retain resource never outlives its operator.

Kopf gives every timer a finalizer; the handlers take it off the timer (handlers._without_finalizer) and stop a
deleted resource's timer themselves. These tests hold both ends of that against the Kopf in the lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.waiting import wait_for

from tests.e2e.conftest import get_eps, wait_condition

Deploy = Callable[..., dict[str, Any]]
FINALIZER = "payloads.durable-workflow.io/finalizer"


def finalizers(crd: Cluster, namespace: str, name: str) -> list[str]:
    return list(get_eps(crd, namespace, name)["metadata"].get("finalizers") or [])


def merge(crd: Cluster, namespace: str, name: str, patch: dict[str, Any]) -> None:
    crd.kubectl("patch", "eps", name, "-n", namespace, "--type=merge", "-p", json.dumps(patch))


def ready(deploy: Deploy, crd: Cluster, namespace: str, dw_server: EmulatedServer, name: str, **spec: Any) -> None:
    """A resource with a server namespace of its own (`<name>-ns`), once Ready."""
    dw_server.add_namespace(f"{name}-ns")
    deploy(name, dw_namespaces=[f"{name}-ns"], **spec)
    wait_condition(crd, namespace, name, "Ready", "True")


def test_only_a_resource_with_deletion_work_holds_the_finalizer(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    ready(deploy, crd, kube_namespace, dw_server, "kept")
    ready(deploy, crd, kube_namespace, dw_server, "dropped", deletionPolicy="Delete")
    assert finalizers(crd, kube_namespace, "kept") == []  # deletable with or without the operator
    assert finalizers(crd, kube_namespace, "dropped") == [FINALIZER]

    # A Retain resource that a previous version gave the finalizer is released by this one (an upgrade).
    merge(crd, kube_namespace, "kept", {"metadata": {"finalizers": [FINALIZER]}})
    wait_for(lambda: not finalizers(crd, kube_namespace, "kept"), 30, message="the old finalizer was not taken off")

    # Switching to Delete takes the finalizer on; switching back lets it go.
    merge(crd, kube_namespace, "kept", {"spec": {"deletionPolicy": "Delete"}})
    wait_for(lambda: finalizers(crd, kube_namespace, "kept") == [FINALIZER], 30, message="Delete took no finalizer")
    merge(crd, kube_namespace, "kept", {"spec": {"deletionPolicy": "Retain"}})
    wait_for(lambda: not finalizers(crd, kube_namespace, "kept"), 30, message="Retain kept the finalizer")


def test_a_deleted_retain_resource_is_no_longer_served(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    """Its timer stops: the server hears nothing more for it, while a resource that stays is resynced on."""
    ready(deploy, crd, kube_namespace, dw_server, "gone")
    ready(deploy, crd, kube_namespace, dw_server, "stays")
    crd.kubectl("delete", "eps", "gone", "-n", kube_namespace, "--wait=true", "--timeout=30s")
    after_delete = dw_server.count(namespace="gone-ns")
    reads = {"method": "GET", "path": "/api/namespaces/stays-ns"}  # one per resync (resyncIntervalSeconds 10)
    stays_before = dw_server.count(namespace="stays-ns", **reads)
    # Two resyncs of the resource that stays: a window in which a timer left running for the deleted one
    # would have resynced it too.
    wait_for(
        lambda: dw_server.count(namespace="stays-ns", **reads) >= stays_before + 2,
        60,
        message="the resource that stays was not resynced",
    )
    assert dw_server.count(namespace="gone-ns") == after_delete
