"""The lifecycle claims watch on the real API server: every resource's bucket and prefix, kept by one watch.

A new resource's rule sync waits until the watch has seen it, and so every resource created before it; a
deleted resource's claim goes; an expired watch version lists again instead of serving a stale view."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from devkit.cluster import Cluster
from devkit.manifests import eps_manifest

from payload_operator.adapters import kube_login
from payload_operator.adapters.claims_watch import PATH, ClaimIndex
from payload_operator.adapters.kube import KubeClient

NAMESPACED = PATH.replace("/externalpayloadstorages", "/namespaces/{ns}/externalpayloadstorages")


@contextlib.asynccontextmanager
async def _admin(crd: Cluster, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[KubeClient]:
    """The client as the operator builds it, opened and closed on the test's own event loop."""
    monkeypatch.setenv("KUBECONFIG", str(crd.kubeconfig))
    credentials = kube_login.login(kopf.OperatorSettings())
    assert credentials is not None
    client = KubeClient.from_connection(credentials.connection, token_file=credentials.token_file)
    try:
        yield client
    finally:
        await client.aclose()


def _create(cluster: Cluster, namespace: str, name: str, bucket: str, tmp_path: Path) -> dict[str, Any]:
    body = eps_manifest(namespace, name, url="http://127.0.0.1:9", local_root=tmp_path / name)
    body["spec"] |= {"driver": "s3", "s3": {"bucket": bucket, "region": "us-east-1"}}
    body["spec"].pop("local")
    created: dict[str, Any] = cluster.api("POST", NAMESPACED.format(ns=namespace), body)
    return created


def _names(claims: list[dict[str, Any]] | None) -> set[str]:
    return {c["metadata"]["name"] for c in claims or []}


async def test_a_new_resource_sees_every_earlier_one_and_a_deleted_one_goes(
    crd: Cluster, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _create(crd, kube_namespace, "first", "shared", tmp_path)
    async with _admin(crd, monkeypatch) as kube:
        index = ClaimIndex(kube)
        index.start()
        try:
            second = _create(crd, kube_namespace, "second", "shared", tmp_path)
            meta = second["metadata"]
            claims = await index.claims_since(meta["uid"], meta["generation"], timeout=30)
            assert {"first", "second"} <= _names(claims), "the listing and the watch both feed the index"
            held = {c["metadata"]["name"]: c for c in claims or []}
            assert held["first"]["spec"]["s3"]["bucket"] == "shared", "the claim keeps the bucket block"
            assert "status" not in held["first"], "claims only: no bodies with their status"

            crd.api("DELETE", NAMESPACED.format(ns=kube_namespace) + "/first")
            gone = await _until(index, lambda names: "first" not in names)
            assert gone, f"the deleted resource's claim stays: {sorted(_names(index.claims()))}"
            assert first["metadata"]["uid"] not in {c["metadata"]["uid"] for c in index.claims() or []}

            unknown = await index.claims_since("no-such-uid", 1, timeout=0.5)
            assert unknown is None, "a resource the watch never saw is not vouched for (the caller lists)"
        finally:
            await index.stop()


async def test_an_expired_watch_version_lists_again(
    crd: Cluster, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Forgetful(KubeClient):
        """The first watch is told its version is gone (410), as after a long disconnection."""

        watches = 0

        async def watch(self, path: str, resource_version: str) -> AsyncIterator[dict[str, Any]]:
            Forgetful.watches += 1
            if Forgetful.watches == 1:
                yield {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
                return
            async for event in super().watch(path, resource_version):
                yield event

    async with _admin(crd, monkeypatch) as kube:
        index = ClaimIndex(Forgetful(kube._client))
        index.start()
        try:
            made = _create(crd, kube_namespace, "later", "bucket-two", tmp_path)
            claims = await index.claims_since(made["metadata"]["uid"], made["metadata"]["generation"], timeout=30)
            assert "later" in _names(claims), "after 410 Gone the index lists again"
            after = _create(crd, kube_namespace, "after", "bucket-two", tmp_path)
            claims = await index.claims_since(after["metadata"]["uid"], after["metadata"]["generation"], timeout=30)
            assert "after" in _names(claims), "and keeps watching"
            assert Forgetful.watches >= 2
        finally:
            await index.stop()


async def _until(index: ClaimIndex, done: Any, timeout: float = 30.0) -> bool:
    """Whether the index's claim names satisfy `done` within `timeout` (never raises)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if done(_names(index.claims())):
            return True
        await asyncio.sleep(0.1)
    return False
