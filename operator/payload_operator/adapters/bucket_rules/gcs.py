"""GCS bucket lifecycle rules and ownership labels, written with a metageneration precondition.

The bucket is always loaded before editing: patching an unloaded bucket (`client.bucket(name)`)
would send an empty rule list and wipe every rule. The patch carries `ifMetagenerationMatch`, so a
change made by someone else since our read fails the write instead of being overwritten.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

from google.api_core.exceptions import PreconditionFailed
from google.cloud.storage.retry import DEFAULT_RETRY

from payload_operator.adapters.bucket_rules.base import ConcurrentUpdate, RulesRejected, Snapshot
from payload_operator.adapters.storage import errors
from payload_operator.adapters.storage.gcs import RETRY_DEADLINE_SECONDS, translate
from payload_operator.planning.bucket_rules import RuleSet
from payload_operator.planning.rule_dialects import GcsDialect

BAD_REQUEST = 400
# The data plane's retry deadline: the library's default (120 s) would hold a throttled sync that long.
RETRY = DEFAULT_RETRY.with_timeout(RETRY_DEADLINE_SECONDS)


class GcsRules:
    """The lifecycle rules and labels of one bucket."""

    dialect = GcsDialect()

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.location = f"gs://{bucket}"

    def read(self) -> Snapshot:
        """Rules as JSON-API dicts; the token is the loaded bucket, whose metageneration guards the write."""
        with self._errors("get bucket"):
            bucket = self.client.get_bucket(self.bucket, retry=RETRY)
        rules = tuple(json.loads(json.dumps(rule)) for rule in bucket.lifecycle_rules)
        labels = {k: v for k, v in (bucket.labels or {}).items() if v is not None}
        return Snapshot(RuleSet(rules, labels), bucket)

    def write(self, rules: RuleSet, token: object, /) -> None:
        """Patch rules and labels on the bucket loaded by `read`, only if nobody changed it since."""
        bucket: Any = token
        bucket.lifecycle_rules = [dict(rule) for rule in rules.rules]
        bucket.labels = dict(rules.labels)
        with self._errors("patch bucket"):
            try:
                bucket.patch(if_metageneration_match=bucket.metageneration, retry=RETRY)
            except PreconditionFailed:
                raise ConcurrentUpdate(f"{self.location} changed since it was read") from None

    def close(self) -> None:
        """Nothing to release: the client belongs to the rule factory's cache, shared with other resources."""

    def _errors(self, operation: str) -> AbstractContextManager[None]:
        return errors.translated(lambda exc: _translate(exc, operation, self.client.api_endpoint))


def _translate(exc: Exception, operation: str, endpoint: str) -> Exception | None:
    if isinstance(exc, ConcurrentUpdate):
        return None
    mapped = translate(exc, operation, None, endpoint)
    if getattr(exc, "code", None) == BAD_REQUEST:
        return RulesRejected(f"GCS {operation} refused the rules: {mapped}")
    return mapped
