"""What the lifecycle sync needs from a provider: the whole rule set, read and written back.

Every provider replaces the whole set on write, so a store never edits single rules: the planner
merges, the store moves the merged set. Stores are synchronous, like the SDKs under them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from payload_operator.adapters.storage.base import StorageError
from payload_operator.planning.bucket_rules import Dialect, RuleSet


@dataclass(frozen=True)
class Snapshot:
    """A rule set as read, with what its write must echo (S3's transition size default, GCS's loaded bucket)."""

    rules: RuleSet
    token: object = None


class RulesRejected(StorageError):
    """The provider refused the rule set as invalid; nothing was written."""

    reason = "RulesRejected"


class ConcurrentUpdate(StorageError):
    """Someone changed the rules between our read and our write; read again and re-plan."""

    reason = "ConcurrentUpdate"


class RuleStore(Protocol):
    """One bucket's (or storage account's) lifecycle rules."""

    @property
    def dialect(self) -> Dialect:
        """How this provider spells and identifies rules."""

    @property
    def location(self) -> str:
        """Where the rules live, for messages (s3://bucket, gs://bucket, azure://account)."""

    def read(self) -> Snapshot:
        """The current rules; an absent configuration reads as no rules."""

    def write(self, rules: RuleSet, token: object, /) -> None:
        """Replace the rules; an empty set removes the configuration. Raise ConcurrentUpdate when a
        precondition shows the rules changed since `token` was read."""

    def close(self) -> None:
        """Release connections."""
