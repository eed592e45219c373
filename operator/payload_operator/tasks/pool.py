"""Blocking work (provider SDK calls) on a thread pool, fed from asyncio with a bounded number in flight.

`submit` waits while the pool is full, so a producer walking millions of keys never queues more than
twice `workers` items; results come back on the event loop thread, so whoever counts them needs no lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BoundedPool(Generic[T, R]):
    """`work(item)` on `workers` threads; `on_result(result)` on the loop; the first failure is re-raised."""

    def __init__(self, work: Callable[[T], R], on_result: Callable[[R], None], *, workers: int) -> None:
        self._work = work
        self._on_result = on_result
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="payload-operator-io")
        self._slots = asyncio.Semaphore(2 * workers)
        self._pending: set[asyncio.Future[R]] = set()
        self._failure: BaseException | None = None

    async def submit(self, item: T) -> None:
        """Start `item` once a slot is free; raise at once if an earlier item failed."""
        self._raise_failure()
        await self._slots.acquire()
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._work, item)
        self._pending.add(future)
        future.add_done_callback(self._done)

    async def drain(self) -> None:
        """Wait for everything submitted; raise the first failure."""
        while self._pending:
            await asyncio.wait(set(self._pending))
        self._raise_failure()

    def _done(self, future: asyncio.Future[R]) -> None:
        self._pending.discard(future)
        self._slots.release()
        if future.cancelled():
            return
        if (exc := future.exception()) is not None:
            self._failure = self._failure or exc
            return
        self._on_result(future.result())

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def __aenter__(self) -> BoundedPool[T, R]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Drain on success; on failure drop what has not started and wait only for what has."""
        try:
            if exc is None:
                await self.drain()
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
            if self._pending:  # reads already running cannot be stopped; never leave them behind
                await asyncio.wait(set(self._pending))
