"""Set a corrupt object aside: a copy under <root>/quarantine/ plus a JSON note. Never a delete.

The original stays where it is, so a worker that still holds a good copy can rewrite it and nothing a
reference points to disappears because of this job. The note says why, so a human can decide.
"""

from __future__ import annotations

import json
from datetime import datetime

from payload_operator.adapters.storage.base import ObjectStore
from payload_operator.planning import keys
from payload_operator.tasks.integrity.hashing import Verdict

NOTE_SUFFIX = ".json"


def quarantine_key(prefix: str, key: str) -> str:
    """<root>/quarantine/<key relative to root>, so the original layout is kept underneath."""
    root = keys.root(prefix)
    relative = key[len(root) :] if key.startswith(root) else key
    return f"{root}{keys.QUARANTINE_DIR}{relative}"


def note(verdict: Verdict, detected_at: datetime) -> bytes:
    """The JSON note written beside the copy."""
    body = {
        "key": verdict.check.key,
        "reason": verdict.problem.value if verdict.problem else None,
        "expectedSha256": verdict.check.sha256,
        "actualSha256": verdict.actual_sha256,
        "expectedSizeBytes": verdict.expected_size,
        "actualSizeBytes": verdict.bytes_read,
        "detectedAt": detected_at.isoformat(),
    }
    return json.dumps(body, indent=2).encode()


def quarantine(store: ObjectStore, prefix: str, verdict: Verdict, detected_at: datetime) -> None:
    """Copy the object and write its note (both overwritten by a later run that finds it again)."""
    target = quarantine_key(prefix, verdict.check.key)
    store.copy(verdict.check.key, target)
    store.put(target + NOTE_SUFFIX, note(verdict, detected_at))
