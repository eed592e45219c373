"""Runs executed inside the operator as asyncio tasks, with a bound on shards working at once.

Only this process knows these tasks: after a restart a run that status still calls active is unknown
here, and the framework records it as interrupted instead of starting it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from payload_operator.core.concurrency import Slots
from payload_operator.scheduler.results import ShardOutcome, failed

log = logging.getLogger(__name__)

ShardWork = Callable[[], Awaitable[ShardOutcome[Any]]]


@dataclass(frozen=True)
class RunKey:
    """One run of one kind of one resource."""

    resource_uid: str
    kind: str
    run_id: str


class InProcessRunner:
    """Starts runs as tasks, reports their shard outcomes, and cancels them on demand."""

    def __init__(self, max_concurrent_shards: int) -> None:
        self._slots = Slots("in_process_shards", max_concurrent_shards)
        self._tasks: dict[RunKey, asyncio.Task[list[ShardOutcome[Any]]]] = {}

    def start(self, key: RunKey, shards: Sequence[ShardWork]) -> None:
        """Begin a run (a no-op when this run is already known, so a retried start never doubles it)."""
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._run(shards), name=f"{key.kind}-{key.run_id}")

    async def _run(self, shards: Sequence[ShardWork]) -> list[ShardOutcome[Any]]:
        async def one(work: ShardWork) -> ShardOutcome[Any]:
            async with self._slots:
                return await work()

        return list(await asyncio.gather(*(one(work) for work in shards)))

    def knows(self, key: RunKey) -> bool:
        """Whether this process started the run (False for runs from before a restart)."""
        return key in self._tasks

    def outcomes(self, key: RunKey) -> list[ShardOutcome[Any]] | None:
        """The shard outcomes once the run is done, else None; the run is forgotten once reported."""
        task = self._tasks.get(key)
        if task is None or not task.done():
            return None
        del self._tasks[key]
        if task.cancelled():
            return [failed(0, "cancelled")]
        error = task.exception()
        if error is not None:  # shard work captures its own errors; this is a framework bug
            log.error("in-process run %s failed outside its shards", key, exc_info=error)
            return [failed(0, f"{type(error).__name__}: {error}")]
        return task.result()

    async def cancel(self, key: RunKey) -> None:
        """Stop a run (deadline passed, resource deleted) and forget it."""
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def forget_resource(self, resource_uid: str) -> None:
        """Stop every run of a deleted resource."""
        for key in [k for k in self._tasks if k.resource_uid == resource_uid]:
            await self.cancel(key)

    async def close(self) -> None:
        """Stop everything (operator shutdown)."""
        for key in list(self._tasks):
            await self.cancel(key)
