"""Queueing status changes on a Kopf patch.

Kopf sends them as a JSON patch guarded by resourceVersion (`patch.fns`), so concurrent writers
(the change handler, the timer, a run finishing) never overwrite each other's fields, and a change
that alters nothing produces no request at all. The change itself is a pure value
(planning/status_change.py); what has to happen once per change (the schema check) happens here, when
it is queued, not in the function Kopf may call several times.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from payload_operator.api.status import ExternalPayloadStorageStatus
from payload_operator.core.timefmt import format_time
from payload_operator.planning.status_change import StatusChange

log = logging.getLogger(__name__)


def add(patch: Any, change: StatusChange, body: Mapping[str, Any]) -> None:
    """Queue `change` on a Kopf patch; `body` is the one it was computed from, to check the result once.

    A change that leaves `body`'s status as it is queues nothing: a settled resync would otherwise have Kopf
    copy the whole body and diff it only to send no request (about a tenth of a resync's CPU). Should the
    stored status have moved since `body` was read, the next pass sees and corrects it."""
    now = format_time(datetime.now(UTC))
    status = change.status_for(body, now)
    if status == body.get("status"):
        return
    _check_schema(status, body.get("metadata") or {})

    def write(fresh: dict[str, Any]) -> None:
        fresh["status"] = change.status_for(fresh, now)

    patch.fns.append(write)


def _check_schema(status: dict[str, Any], meta: Mapping[str, Any]) -> None:
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
