"""Status writes as re-runnable transformations of the freshest body.

Kopf sends these as a JSON patch guarded by resourceVersion (`patch.fns`), so concurrent writers
(the change handler, the timer, a run finishing) never overwrite each other's fields, and a change
that alters nothing produces no request at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from payload_operator.api.status import ConditionType, ExternalPayloadStorageStatus, bounded
from payload_operator.core import metrics
from payload_operator.core.timefmt import format_time
from payload_operator.planning.conditions import ConditionUpdate, merge_conditions, ready_summary

log = logging.getLogger(__name__)


def ready_inputs(spec: Any) -> list[ConditionType]:
    """The conditions Ready summarises for this spec (raw body spec, so it works on invalid specs too)."""
    kinds = [ConditionType.POLICY_SYNCED, ConditionType.STORAGE_REACHABLE]
    lifecycle = spec.get("lifecycle") if isinstance(spec, dict) else None
    if isinstance(lifecycle, dict) and lifecycle.get("enabled", True):
        kinds.append(ConditionType.LIFECYCLE_SYNCED)
    return kinds


@dataclass
class StatusChange:
    """Fields and conditions to set on status; None values remove a field.

    `generation` is the spec generation the change was computed for (default: `observed_generation`).
    Kopf applies the change to the freshest body, whose generation may be newer: stamping that one
    would claim a spec nobody reconciled.
    """

    conditions: list[ConditionUpdate] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    observed_generation: int | None = None
    generation: int | None = None

    def apply(self, body: dict[str, Any]) -> None:
        """Mutate `body` in place (called by Kopf, possibly more than once)."""
        status = body.setdefault("status", {})
        generation = next(
            g
            for g in (self.generation, self.observed_generation, int(body.get("metadata", {}).get("generation") or 0))
            if g is not None
        )
        now = format_time(datetime.now(UTC))
        for key, value in self.fields.items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = bounded(value)
        if self.observed_generation is not None:
            status["observedGeneration"] = self.observed_generation
        merged = merge_conditions(status.get("conditions") or [], self.conditions, generation=generation, now=now)
        ready = ready_summary(merged, ready_inputs(body.get("spec")))
        status["conditions"] = merge_conditions(merged, [ready], generation=generation, now=now)
        meta = body.get("metadata", {})
        metrics.record_ready(meta.get("namespace", ""), meta.get("name", ""), ready.is_true)
        _check_schema(status, meta)


def _check_schema(status: dict[str, Any], meta: dict[str, Any]) -> None:
    """Log a status the CRD would refuse: Kopf reports the API server's 422 only as a debug-level conflict."""
    try:
        ExternalPayloadStorageStatus.model_validate(status)
    except ValidationError as exc:
        log.error(
            "status of %s/%s does not match the CRD schema and will not be stored: %s",
            meta.get("namespace"),
            meta.get("name"),
            exc.errors(include_url=False, include_input=False),
        )


def add(patch: Any, change: StatusChange) -> None:
    """Queue a status change on a Kopf patch."""
    patch.fns.append(change.apply)


def conditions_of(status: Any) -> Iterable[dict[str, Any]]:
    """The conditions list of a raw status, tolerating garbage."""
    conditions = status.get("conditions") if isinstance(status, dict) else None
    return [c for c in conditions or [] if isinstance(c, dict)]
