"""S3 bucket lifecycle configurations (AWS, Ceph RGW, moto) through boto3.

A missing configuration is the error NoSuchLifecycleConfiguration, not an empty list; an empty rule
list is not a valid PUT (MalformedXML), so the last rule goes with DeleteBucketLifecycle. S3 has no
write precondition: the sync reads back after writing instead.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from botocore.exceptions import ClientError

from payload_operator.adapters.bucket_rules.base import RulesRejected, Snapshot
from payload_operator.adapters.storage import errors
from payload_operator.adapters.storage.s3 import translate
from payload_operator.planning.bucket_rules import RuleSet
from payload_operator.planning.rule_dialects import S3Dialect

NO_CONFIGURATION = "NoSuchLifecycleConfiguration"
REJECTED_CODES = frozenset({"InvalidArgument", "MalformedXML", "InvalidRequest"})
TRANSITION_SIZE = "TransitionDefaultMinimumObjectSize"


class S3Rules:
    """The lifecycle configuration of one bucket."""

    dialect = S3Dialect()

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.location = f"s3://{bucket}"

    def read(self) -> Snapshot:
        """The rules as boto3 parses them; the token is the transition size default to echo."""
        with self._errors("get lifecycle"):
            try:
                response = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == NO_CONFIGURATION:
                    return Snapshot(RuleSet())
                raise
        return Snapshot(RuleSet(tuple(response.get("Rules", ()))), response.get(TRANSITION_SIZE))

    def write(self, rules: RuleSet, token: object, /) -> None:
        """PUT the whole set (echoing the transition size default), or DELETE when it is empty."""
        if not rules.rules:
            with self._errors("delete lifecycle"):
                self.client.delete_bucket_lifecycle(Bucket=self.bucket)
            return
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "LifecycleConfiguration": {"Rules": [dict(rule) for rule in rules.rules]},
        }
        if token:
            request[TRANSITION_SIZE] = token
        with self._errors("put lifecycle"):
            self.client.put_bucket_lifecycle_configuration(**request)

    def close(self) -> None:
        """Nothing to release: the client belongs to the storage factory's cache, shared with other stores."""

    def _errors(self, operation: str) -> AbstractContextManager[None]:
        return errors.translated(lambda exc: _translate(exc, operation, self.client.meta.endpoint_url))


def _translate(exc: Exception, operation: str, endpoint: str) -> Exception | None:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        if error.get("Code") in REJECTED_CODES:
            detail = str(error.get("Message") or "")[:200]
            return RulesRejected(f"S3 {operation} refused: {error['Code']} {detail}".rstrip())
    return translate(exc, operation, None, endpoint)
