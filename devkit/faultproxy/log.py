"""The proxy's record of every request it saw: arrival time, answer, and the fault applied."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 1 << 20


@dataclass
class Exchange:
    """One request; `status` stays None while it is held or forwarded, and for dropped ones."""

    connection: int
    method: str
    path: str
    query: str
    arrived: float
    status: int | None = None
    fault: str | None = None
    finished: float | None = None
    body: bytes = b""
    """The request body, first MAX_BODY bytes (S3 batch deletes name their keys there)."""

    @property
    def target(self) -> str:
        """Path and query as sent."""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def is_write(self) -> bool:
        """Anything but GET, HEAD and OPTIONS (every provider writes with PUT, POST, PATCH or DELETE)."""
        return self.method not in READ_METHODS

    def matches(
        self,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        query_contains: str | None = None,
        status: int | None = None,
        fault: str | None = None,
        pending: bool | None = None,
        writes: bool | None = None,
    ) -> bool:
        """Every criterion that is set must hold."""
        return (
            (method is None or self.method == method.upper())
            and (path_prefix is None or self.path.startswith(path_prefix))
            and (query_contains is None or query_contains in self.query)
            and (status is None or self.status == status)
            and (fault is None or self.fault == fault)
            and (pending is None or (self.finished is None) == pending)
            and (writes is None or self.is_write == writes)
        )


class ExchangeLog:
    """Append-only and thread-safe; `wait_until` blocks on a condition variable (no polling sleeps)."""

    def __init__(self) -> None:
        self._items: list[Exchange] = []
        self._cond = threading.Condition()

    def add(self, item: Exchange) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def finish(self, item: Exchange, status: int | None, fault: str | None = None) -> None:
        with self._cond:
            item.status = status
            item.fault = fault or item.fault
            item.finished = time.time()
            self._cond.notify_all()

    def mark(self, item: Exchange, fault: str) -> None:
        with self._cond:
            item.fault = fault
            self._cond.notify_all()

    def all(self) -> list[Exchange]:
        with self._cond:
            return list(self._items)

    def find(self, **criteria: Any) -> list[Exchange]:
        return [item for item in self.all() if item.matches(**criteria)]

    def count(self, **criteria: Any) -> int:
        return len(self.find(**criteria))

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def wait_until(self, predicate: Callable[[list[Exchange]], bool], timeout: float) -> bool:
        """Block until `predicate(all requests)` holds or `timeout` seconds pass; returns whether it held."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self._items)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_for(self, count: int = 1, timeout: float = 10.0, **criteria: Any) -> bool:
        """Block until at least `count` requests match."""
        return self.wait_until(lambda items: sum(1 for i in items if i.matches(**criteria)) >= count, timeout)
