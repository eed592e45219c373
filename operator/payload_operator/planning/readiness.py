"""Ready: the conditions it summarises, defined once, and the summary itself.

The CRD's description of status.conditions and the docs that explain Ready are checked against
`describe_ready_inputs` (tests/unit/test_ready_contract.py): change `READY_INPUTS` and they must follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from payload_operator.api.status import ConditionStatus, ConditionType
from payload_operator.planning.conditions import ConditionUpdate, conditions_of, unknown


@dataclass(frozen=True)
class ReadyInput:
    """A condition Ready summarises; `enabled_by` names a spec block that must be set and enabled for it to count."""

    type: ConditionType
    enabled_by: str = ""

    def counts_for(self, spec: Any) -> bool:
        """Whether it counts for this raw spec (raw, so an invalid spec still gets a Ready)."""
        if not self.enabled_by:
            return True
        block = spec.get(self.enabled_by) if isinstance(spec, dict) else None
        return isinstance(block, dict) and bool(block.get("enabled", True))


READY_INPUTS = (
    ReadyInput(ConditionType.POLICY_SYNCED),
    ReadyInput(ConditionType.STORAGE_REACHABLE),
    ReadyInput(ConditionType.LIFECYCLE_SYNCED, enabled_by="lifecycle"),
)
"""In the order Ready looks at them: its reason is that of the first one that is not True."""

NOT_READY_INPUTS = tuple(
    t for t in ConditionType if t is not ConditionType.READY and t not in {i.type for i in READY_INPUTS}
)
"""Conditions that report without changing Ready (the scheduled runs)."""


def ready_inputs(spec: Any) -> list[ConditionType]:
    """The conditions Ready summarises for this raw spec."""
    return [i.type for i in READY_INPUTS if i.counts_for(spec)]


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def describe_ready_inputs(code: Callable[[str], str] = str) -> str:
    """The contract in one sentence; `code` marks up names (the docs put them in backticks)."""

    def item(i: ReadyInput) -> str:
        return (
            f"{code(i.type)} (when {code('spec.' + i.enabled_by)} is set and enabled)" if i.enabled_by else code(i.type)
        )

    summarised = _listed([item(i) for i in READY_INPUTS])
    others = _listed([code(t) for t in NOT_READY_INPUTS])
    return f"{code(ConditionType.READY)} summarises {summarised}; {others} do not count towards it."


def _generation_of(condition: dict[str, Any]) -> int:
    value = condition.get("observedGeneration")
    return value if isinstance(value, int) else 0


def ready_summary(conditions: Sequence[dict[str, Any]], considered: Iterable[ConditionType]) -> ConditionUpdate:
    """Ready is True only when every considered condition is True; else it carries the first problem.

    Its generation is the oldest of the considered conditions: Ready is only as current as its inputs.
    """
    by_type = {c.get("type"): c for c in conditions}
    inputs = [(kind, by_type.get(kind.value)) for kind in considered]
    oldest = min((_generation_of(c) for _, c in inputs if c is not None), default=None)
    for kind, condition in inputs:
        if condition is None:
            return unknown(ConditionType.READY, "Reconciling", f"{kind.value} not evaluated yet")
        if condition.get("status") != ConditionStatus.TRUE.value:
            status = ConditionStatus.FALSE if condition.get("status") == "False" else ConditionStatus.UNKNOWN
            return ConditionUpdate(
                ConditionType.READY.value,
                status,
                str(condition.get("reason")),
                f"{kind.value}: {condition.get('message', '')}",
                oldest,
            )
    return ConditionUpdate(ConditionType.READY.value, ConditionStatus.TRUE, "Ready", "all conditions hold", oldest)


def is_ready(status: Any) -> bool:
    """Whether a raw status says Ready=True."""
    return any(c.get("type") == ConditionType.READY.value and c.get("status") == "True" for c in conditions_of(status))
