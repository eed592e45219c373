"""Every resource's claim on storage (driver, bucket block, prefix), kept current by one list and one watch.

A resource's lifecycle rules must not reach another resource's root, so each rule sync needs the roots of
all the others. Listing every resource for every sync made settling N resources cost N listings of N
bodies: at 150 resources that listing was 12% of the operator's CPU while settling, and it grows with the
square of the fleet. One watch keeps the same view for every sync, and a changed resource still sees every
resource that existed before its change: watch events arrive in the API server's order, so once the index
holds a resource at its current generation it holds everything created before that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from payload_operator.adapters.kube import KubeClient, KubeError
from payload_operator.api.spec import API_GROUP, API_VERSION, PLURAL
from payload_operator.planning.bucket_rules import claim

PATH = f"/apis/{API_GROUP}/{API_VERSION}/{PLURAL}"
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Waits before listing again after a failed list or watch, the last one repeated."""
FRESH_WAIT_SECONDS = 10.0
"""How long a changed resource waits for the watch to reach its change before listing for itself."""
logger = logging.getLogger(__name__)


class ClaimIndex:
    """The claims of every resource in the cluster, by uid, with the generation each was taken at."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._claims: dict[str, tuple[int, dict[str, Any]]] = {}
        self._changed = asyncio.Condition()
        self._synced = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin listing and watching in the background."""
        self._task = asyncio.create_task(self._run(), name="claims-watch")

    async def stop(self) -> None:
        """Cancel the background task and wait for it to end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def claims(self) -> list[dict[str, Any]] | None:
        """The claims as last seen, or None before the first listing."""
        return [kept for _, kept in self._claims.values()] if self._synced else None

    async def claims_since(self, uid: str, generation: int, timeout: float) -> list[dict[str, Any]] | None:
        """The claims once the index holds `uid` at `generation` or later, or None after `timeout` seconds."""

        def caught_up() -> bool:
            held = self._claims.get(uid)
            return self._synced and held is not None and held[0] >= generation

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(caught_up)
        return self.claims() if caught_up() else None

    async def _run(self) -> None:
        failures = expirations = 0
        while True:
            try:
                version = await self._list()
                failures = 0
                while True:
                    version = await self._follow(version)
                    expirations = 0
            except _Expired:  # the API server forgot our version: list again, at once the first time
                expirations += 1
                if expirations > 1:  # again before one watch completed: back off, never a tight loop
                    await asyncio.sleep(RETRY_SECONDS[min(expirations - 2, len(RETRY_SECONDS) - 1)])
                continue
            except Exception as exc:  # whatever failed, the rule syncs list for themselves until this recovers
                self._synced = False
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                if isinstance(exc, KubeError):
                    logger.warning("resource watch for lifecycle claims failed (%s); listing again in %gs", exc, wait)
                else:
                    logger.exception("resource watch for lifecycle claims failed; listing again in %gs", wait)
                await asyncio.sleep(wait)

    async def _list(self) -> str:
        claims, version = await _listed(self._kube)
        async with self._changed:
            self._claims = claims
            self._synced = True
            self._changed.notify_all()
        return version

    async def _follow(self, version: str) -> str:
        """One watch request from `version`; the version to continue from."""
        try:
            async for event in self._kube.watch(PATH, version):
                version = await self._apply(event, version)
        except KubeError as exc:
            if exc.status == 410:
                raise _Expired from exc
            raise
        return version

    async def _apply(self, event: dict[str, Any], version: str) -> str:
        kind, obj = event.get("type"), event["object"]
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired
            raise KubeError(f"WATCH {PATH}: {obj.get('reason') or obj.get('code')}")
        version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
        if kind == "BOOKMARK":
            return version
        uid, held = _held(obj)
        async with self._changed:
            if kind == "DELETED":
                self._claims.pop(uid, None)
            else:
                self._claims[uid] = held
            self._changed.notify_all()
        return version


class _Expired(Exception):
    """410 Gone: the watch's version is older than the API server keeps."""


def _held(body: dict[str, Any]) -> tuple[str, tuple[int, dict[str, Any]]]:
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    return str(metadata.get("uid", "")), (generation if isinstance(generation, int) else 0, claim(body))


async def _listed(kube: KubeClient) -> tuple[dict[str, tuple[int, dict[str, Any]]], str]:
    """One listing: every resource's claim by uid, and the resourceVersion to watch from."""
    listed = await kube.call("GET", PATH)
    claims = dict(_held(item) for item in listed.get("items") or [] if isinstance(item, dict))
    return claims, str((listed.get("metadata") or {}).get("resourceVersion", ""))


_indexes: weakref.WeakKeyDictionary[KubeClient, ClaimIndex] = weakref.WeakKeyDictionary()


def watch_claims(kube: KubeClient) -> ClaimIndex:
    """Start the index that serves every rule sync made with `kube` (the operator does this once at startup)."""
    index = ClaimIndex(kube)
    index.start()
    _indexes[kube] = index
    return index


async def current_claims(kube: KubeClient, uid: str, generation: int, *, fresh: bool) -> list[dict[str, Any]]:
    """Every resource's claim, from the operator's running index; a new or changed resource (`fresh`), the one
    about to write new rules, waits until the watch has seen its generation. Without an index (one-off
    commands), or when the watch lags past FRESH_WAIT_SECONDS, one listing."""
    index = _indexes.get(kube)
    claims: list[dict[str, Any]] | None = None
    if index is not None:
        claims = await index.claims_since(uid, generation, FRESH_WAIT_SECONDS) if fresh else index.claims()
    if claims is None:
        listed, _ = await _listed(kube)
        claims = [kept for _, kept in listed.values()]
    return claims
