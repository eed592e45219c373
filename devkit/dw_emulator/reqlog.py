"""Thread-safe log of the requests the emulator answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    status: int
    namespace: str | None
    role: str | None
    timestamp: float
    fault: str | None = None

    def matches(
        self,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        path: str | None = None,
        status: int | None = None,
        role: str | None = None,
        namespace: str | None = None,
    ) -> bool:
        return (
            (method is None or self.method == method.upper())
            and (path_prefix is None or self.path.startswith(path_prefix))
            and (path is None or self.path == path)
            and (status is None or self.status == status)
            and (role is None or self.role == role)
            and (namespace is None or self.namespace == namespace)
        )


class RequestLog:
    """Append-only request log; every helper is safe to call from any thread."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._cond = threading.Condition()

    def append(self, record: RequestRecord) -> None:
        with self._cond:
            self._records.append(record)
            self._cond.notify_all()

    def records(self) -> list[RequestRecord]:
        with self._cond:
            return list(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.records())

    def __len__(self) -> int:
        with self._cond:
            return len(self._records)

    def clear(self) -> None:
        with self._cond:
            self._records.clear()

    def find(self, **criteria: Any) -> list[RequestRecord]:
        return [r for r in self.records() if r.matches(**criteria)]

    def count(self, **criteria: Any) -> int:
        """``count(method="PUT", path_prefix="/api/namespaces", status=200, role=..., namespace=...)``."""
        return len(self.find(**criteria))

    def last(self, **criteria: Any) -> RequestRecord | None:
        found = self.find(**criteria)
        return found[-1] if found else None

    def wait_for(self, count: int = 1, timeout: float = 10.0, **criteria: Any) -> bool:
        """Block until at least ``count`` matching requests were answered (no polling sleeps)."""
        deadline = time.monotonic() + timeout

        def satisfied() -> bool:
            return sum(1 for r in self._records if r.matches(**criteria)) >= count

        with self._cond:
            while not satisfied():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_until(self, predicate: Callable[[list[RequestRecord]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self._records)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True
