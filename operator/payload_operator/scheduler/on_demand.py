"""On-demand runs: the annotation `payloads.durable-workflow.io/run-now` asks for a run now, whatever the schedule.

Its value names the kinds, comma-separated (`integrity`, `retention`, `integrity,retention`); `kubectl eps
verify` sets it. The scheduler starts a requested kind at its next tick once no run of that kind is active
(even while the schedule is suspended) and removes it from the annotation in the same patch. A kind the
resource has no spec block for is dropped unrun. Whoever may patch the resource may ask; the run itself is
the one the schedule would start, with the same admission checks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from payload_operator.api.spec import API_GROUP

RUN_NOW_ANNOTATION = f"{API_GROUP}/run-now"


def requested(body: Mapping[str, Any]) -> frozenset[str]:
    """The kinds the resource's annotation asks to run now."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(RUN_NOW_ANNOTATION)
    if not isinstance(value, str):
        return frozenset()
    return frozenset(kind.strip() for kind in value.split(",") if kind.strip())


def annotation_after(asked: Collection[str], answered: Collection[str]) -> dict[str, str | None]:
    """The annotation change once `answered` kinds are taken out of `asked`: {} when none was, None removes it.

    A kind is taken out only when its run was started (or it cannot run), never because a tick skipped it, so
    a request that meets a stale body waits for the next tick instead of being lost."""
    done = set(asked) & set(answered)
    if not done:
        return {}
    return {RUN_NOW_ANNOTATION: ",".join(sorted(set(asked) - done)) or None}
