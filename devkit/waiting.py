"""Deadline-based polling. Tests must synchronise with this, never with bare sleeps.

    wait_for(lambda: get_status()["phase"] == "Ready", timeout=30, message="CR never became Ready")
    obj = wait_for(lambda: find_object(), timeout=10)        # returns the first truthy value

A predicate that raises counts as "not yet": on a busy machine a condition often reads an object half
made (a status block not written yet, a Job without pods), and a wait must wait through that. The last
exception is reported if the deadline passes, so a predicate that can never succeed still fails, with
its error. KeyboardInterrupt and other BaseExceptions propagate at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

_MAX_REPR = 2000


def _describe(message: str, timeout: float, polls: int, last: object, last_exc: BaseException | None) -> str:
    head = message or "condition not met"
    detail = f"last value: {last!r}"
    if last_exc is not None:
        detail = f"last exception: {type(last_exc).__name__}: {last_exc}"
    if len(detail) > _MAX_REPR:
        detail = detail[:_MAX_REPR] + "...(truncated)"
    return f"{head} (timed out after {timeout:.1f}s, {polls} polls; {detail})"


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.1,
    message: str = "",
) -> T:
    """Poll ``predicate`` until it returns a truthy value and return that value.

    Raises AssertionError (with the last observed value or exception) once ``timeout`` seconds pass.
    The predicate is always evaluated at least once, and once more at the deadline.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    last_exc: BaseException | None = None
    polls = 0
    while True:
        polls += 1
        try:
            value = predicate()
        except Exception as exc:  # "not yet": see the module docstring
            last_exc = exc
        else:
            last_exc = None
            if value:
                return value
            last = value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(_describe(message, timeout, polls, last, last_exc))
        time.sleep(min(interval, remaining))


@overload
async def async_wait_for(
    predicate: Callable[[], Awaitable[T]],
    timeout: float,
    interval: float = ...,
    message: str = ...,
) -> T: ...


@overload
async def async_wait_for(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = ...,
    message: str = ...,
) -> T: ...


async def async_wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    interval: float = 0.1,
    message: str = "",
) -> Any:
    """Like :func:`wait_for`, for async tests: the predicate may be sync or async; polls with asyncio.sleep."""
    deadline = time.monotonic() + timeout
    last: object = None
    last_exc: BaseException | None = None
    polls = 0
    while True:
        polls += 1
        try:
            result = predicate()
            value = await result if isinstance(result, Awaitable) else result
        except Exception as exc:  # "not yet": see the module docstring
            last_exc = exc
        else:
            last_exc = None
            if value:
                return value
            last = value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(_describe(message, timeout, polls, last, last_exc))
        await asyncio.sleep(min(interval, remaining))
