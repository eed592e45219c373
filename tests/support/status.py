"""Status changes applied to a test's body the way Kopf applies them: queued on a patch, its functions run."""

from __future__ import annotations

from typing import Any

import kopf

from payload_operator.planning.status_change import StatusChange
from payload_operator.reconcile.status import add


def apply_as_kopf(change: StatusChange, body: dict[str, Any]) -> None:
    """Queue `change` computed from `body` and write it into `body`, as Kopf's patch would."""
    patch = kopf.Patch()
    add(patch, change, body)
    for write in patch.fns:
        write(body)  # type: ignore[arg-type]
