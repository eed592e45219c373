"""What the proxy does to a request: the fault kinds, one rule, and the thread-safe rule list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from devkit.counted_rules import CountedRules

FaultKind = Literal["delay", "status", "drop", "reset", "truncate"]
"""delay: hold the request, then forward it. status: answer it without forwarding. drop: close the
connection (FIN) without an answer. reset: abort the connection (RST). truncate: forward, then send
only half of the answer's body and abort."""


@dataclass
class Rule:
    """One injected fault for the requests it matches; `count=None` means until removed."""

    kind: FaultKind
    status: int = 503
    seconds: float = 0.0
    retry_after: str | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    method: str | None = None
    path_prefix: str | None = None
    query_contains: str | None = None
    count: int | None = None
    after_forward: bool = False
    """delay only: forward at once and hold the answer instead of the request."""
    applied: int = field(default=0)

    def matches(self, method: str, path: str, query: str) -> bool:
        """Whether this rule applies to a request (every criterion that is set must hold)."""
        return (
            (self.method is None or self.method.upper() == method.upper())
            and (self.path_prefix is None or path.startswith(self.path_prefix))
            and (self.query_contains is None or self.query_contains in query)
        )


class Rules(CountedRules[Rule]):
    """The active rules, first match wins; safe to change from any thread while the proxy runs."""

    def add(self, rule: Rule) -> Rule:
        """Append a rule (it applies to requests that arrive from now on)."""
        if rule.count is not None and rule.count < 1:
            raise ValueError("count must be at least 1 (or None: until removed)")
        return super().add(rule)

    def take(self, method: str, path: str, query: str) -> Rule | None:
        """The first rule matching the request, with one use consumed."""
        return self.take_first(lambda rule: rule.matches(method, path, query))

    def active(self) -> list[Rule]:
        """A snapshot of the rules in force."""
        return self.snapshot()
