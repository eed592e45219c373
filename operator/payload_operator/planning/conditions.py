"""Kubernetes-shaped conditions: merging and transition times (Ready's summary: planning/readiness.py).

`lastTransitionTime` moves only when `status` flips, and an unchanged condition produces an
identical dict, so a level-based resync that finds nothing new writes nothing. Each condition carries
the generation it was computed for, and Ready the oldest generation of the conditions it summarises,
so Ready=True never names a spec that was not reconciled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from payload_operator.api.status import ConditionStatus, ConditionType

MAX_MESSAGE = 1024


@dataclass(frozen=True)
class ConditionUpdate:
    """A condition as a reconcile step concluded it, before timestamps."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    generation: int | None = None
    """The spec generation this was computed for; None: the generation of the change carrying it."""

    @property
    def is_true(self) -> bool:
        """Whether the condition holds."""
        return self.status == ConditionStatus.TRUE


def true(kind: ConditionType, reason: str, message: str = "") -> ConditionUpdate:
    """A True condition."""
    return ConditionUpdate(kind.value, ConditionStatus.TRUE, reason, message)


def false(kind: ConditionType, reason: str, message: str = "") -> ConditionUpdate:
    """A False condition."""
    return ConditionUpdate(kind.value, ConditionStatus.FALSE, reason, message)


def unknown(kind: ConditionType, reason: str, message: str = "") -> ConditionUpdate:
    """An Unknown condition."""
    return ConditionUpdate(kind.value, ConditionStatus.UNKNOWN, reason, message)


def merge_conditions(
    existing: Sequence[dict[str, Any]],
    updates: Iterable[ConditionUpdate],
    *,
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """The condition list with `updates` applied; other types are kept as they were.

    `generation` stamps updates that do not carry their own.
    """
    by_type = {c.get("type"): dict(c) for c in existing if isinstance(c, dict)}
    for update in updates:
        previous = by_type.get(update.type)
        flipped = previous is None or previous.get("status") != update.status.value
        condition = {
            "type": update.type,
            "status": update.status.value,
            "reason": update.reason,
            "observedGeneration": generation if update.generation is None else update.generation,
            "lastTransitionTime": now if flipped else previous.get("lastTransitionTime", now),  # type: ignore[union-attr]
        }
        if update.message:  # an empty message is left out rather than stored as ""
            condition["message"] = update.message[:MAX_MESSAGE]
        by_type[update.type] = condition
    order = [t.value for t in ConditionType]
    return sorted(by_type.values(), key=lambda c: (order.index(c["type"]) if c["type"] in order else 99, c["type"]))


def conditions_of(status: Any) -> list[dict[str, Any]]:
    """The conditions list of a raw status, tolerating garbage."""
    conditions = status.get("conditions") if isinstance(status, dict) else None
    return [c for c in conditions or [] if isinstance(c, dict)]
