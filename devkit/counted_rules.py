"""Thread-safe fault rules with a use budget, shared by the server emulator and the fault proxy."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class CountedRule(Protocol):
    """A rule that may apply `count` more times (None: until removed) and records how often it did."""

    count: int | None
    applied: int


R = TypeVar("R", bound=CountedRule)


class CountedRules(Generic[R]):
    """The active rules, first match wins; safe to change from any thread while requests are served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[R] = []

    def add(self, rule: R) -> R:
        """Append a rule (it applies to requests that arrive from now on)."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: R) -> None:
        """Stop applying one rule."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def take_first(self, matches: Callable[[R], bool]) -> R | None:
        """The first matching rule, with one use consumed (a spent rule is dropped)."""
        with self._lock:
            for rule in self._rules:
                if matches(rule):
                    rule.applied += 1
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def snapshot(self) -> list[R]:
        """The rules in force."""
        with self._lock:
            return list(self._rules)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()
