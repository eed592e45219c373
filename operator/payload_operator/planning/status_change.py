"""A status change as a value: what to set, and the generation it was computed for.

Kopf applies a change to the freshest body it has, possibly more than once (a write that loses a
resourceVersion race is re-applied to a newer body on the next cycle). So applying one is a pure
function of the change, the body and the time it was queued: no clock, no metrics, no logging here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from payload_operator.api.status import bounded
from payload_operator.planning.conditions import ConditionUpdate, conditions_of, merge_conditions
from payload_operator.planning.readiness import ready_inputs, ready_summary


@dataclass(frozen=True, kw_only=True)
class StatusChange:
    """Fields and conditions to set on status; a None field value removes the field."""

    generation: int
    """The metadata.generation the change was computed for. Its conditions carry it, not the generation of
    the body it lands on, which may be newer: stamping that one would claim a spec nobody reconciled."""
    conditions: Sequence[ConditionUpdate] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    completes_reconcile: bool = False
    """Whether the change ends a reconcile of `generation`, so status.observedGeneration records it."""

    def status_for(self, body: Mapping[str, Any], now: str) -> dict[str, Any]:
        """The status `body` has once the change is applied (`body` itself is left as it is).

        `now` is when the change was made; it becomes the lastTransitionTime of conditions that flip.
        Ready is summarised afresh from the merged conditions, for the body's spec."""
        raw = body.get("status")
        status = dict(raw) if isinstance(raw, Mapping) else {}
        for key, value in self.fields.items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = bounded(value)
        if self.completes_reconcile:
            status["observedGeneration"] = self.generation
        merged = merge_conditions(conditions_of(status), self.conditions, generation=self.generation, now=now)
        ready = ready_summary(merged, ready_inputs(body.get("spec")))
        status["conditions"] = merge_conditions(merged, [ready], generation=self.generation, now=now)
        return status
