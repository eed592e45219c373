"""Fault switches for drills: injected statuses, latency, broken bodies, outages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from devkit.counted_rules import CountedRules

FaultKind = Literal["status", "malformed_json", "wrong_content_type", "truncated", "reset"]


@dataclass
class FaultRule:
    """One injected answer. ``count=None`` means "until cleared"."""

    kind: FaultKind
    status: int = 503
    path_prefix: str | None = None
    method: str | None = None
    count: int | None = None
    retry_after: int | float | str | None = None
    body: Any = None
    applied: int = field(default=0)

    def matches(self, method: str, path: str) -> bool:
        return (self.path_prefix is None or path.startswith(self.path_prefix)) and (
            self.method is None or self.method.upper() == method.upper()
        )


class Faults:
    """Runtime-switchable faults. All attributes are safe to change from any thread.

    - ``down``: stop accepting connections (the listener is closed; setting it back to
      ``False`` listens again on the same port).
    - ``set(status=503, path_prefix=..., count=..., retry_after=..., method=..., body=...)``
    - ``malformed_json(...)``, ``wrong_content_type(...)``, ``truncated_body(...)``, ``reset(...)``
    - ``latency``: seconds added before every answer.
    - ``unauthorized``: 401 for every request.
    - ``storage_status``: override the namespace storage status in cluster-info / storage
      test / transport / retention (e.g. ``"driver_unavailable"``).
    - ``storage_errors``: every backing-store operation (put/get/delete) raises.
    """

    def __init__(self, on_down_change: Callable[[bool], None] | None = None) -> None:
        self._rules: CountedRules[FaultRule] = CountedRules()
        self._down = False
        self._on_down_change = on_down_change
        self.latency: float = 0.0
        self.unauthorized: bool = False
        self.storage_status: str | None = None
        self.storage_errors: bool = False

    # -- outage -------------------------------------------------------------
    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        value = bool(value)
        if value == self._down:
            return
        self._down = value
        if self._on_down_change is not None:
            self._on_down_change(value)

    # -- rules ----------------------------------------------------------------
    def add(self, rule: FaultRule) -> FaultRule:
        return self._rules.add(rule)

    def set(
        self,
        status: int = 503,
        *,
        path_prefix: str | None = None,
        count: int | None = None,
        retry_after: int | float | str | None = None,
        method: str | None = None,
        body: Any = None,
    ) -> FaultRule:
        """Answer matching requests with ``status`` (body: JSON ``body`` or a Laravel-like one)."""
        return self.add(FaultRule("status", status, path_prefix, method, count, retry_after, body))

    def malformed_json(
        self, *, path_prefix: str | None = None, count: int | None = None, method: str | None = None
    ) -> FaultRule:
        """Real status and ``application/json``, but the body is cut in half (invalid JSON)."""
        return self.add(FaultRule("malformed_json", 0, path_prefix, method, count))

    def wrong_content_type(
        self,
        *,
        status: int = 200,
        path_prefix: str | None = None,
        count: int | None = None,
        method: str | None = None,
    ) -> FaultRule:
        """An HTML page (``text/html``) instead of JSON, like a misrouted proxy."""
        return self.add(FaultRule("wrong_content_type", status, path_prefix, method, count))

    def truncated_body(
        self, *, path_prefix: str | None = None, count: int | None = None, method: str | None = None
    ) -> FaultRule:
        """Declare the full Content-Length, send half the body, then drop the connection."""
        return self.add(FaultRule("truncated", 0, path_prefix, method, count))

    def reset(
        self, *, path_prefix: str | None = None, count: int | None = None, method: str | None = None
    ) -> FaultRule:
        """Close the connection without any answer."""
        return self.add(FaultRule("reset", 0, path_prefix, method, count))

    def take(self, method: str, path: str) -> FaultRule | None:
        """Return (and consume one use of) the first rule matching the request."""
        return self._rules.take_first(lambda rule: rule.matches(method, path))

    def rules(self) -> list[FaultRule]:
        return self._rules.snapshot()

    def clear(self) -> None:
        """Remove every rule and reset every switch (an outage ends too)."""
        self._rules.clear()
        self.latency = 0.0
        self.unauthorized = False
        self.storage_status = None
        self.storage_errors = False
        self.down = False
