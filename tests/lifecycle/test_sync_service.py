"""The sync's sequencing with a scripted in-memory store: concurrent writers, lagging read-backs,
failing providers. Everything that needs a real server is in test_rule_sync."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from payload_operator.adapters.bucket_rules.base import ConcurrentUpdate, RulesRejected, Snapshot
from payload_operator.adapters.storage.base import StorageError, StorageUnreachable
from payload_operator.api.status import LifecycleStatus
from payload_operator.planning.bucket_rules import RuleSet
from payload_operator.planning.rule_dialects import S3Dialect
from payload_operator.reconcile.bucket_rules import sync_lifecycle
from tests.lifecycle.benches import make_resource

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RESOURCE = make_resource("s3", {"bucket": "payload-bucket"})
LOGS: dict[str, object] = {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 7}}


class ScriptedStore:
    """An S3-shaped rule store with a generation precondition (as GCS has) and scriptable faults.

    `lag`: how many reads after a write still show the rules from before it (S3 propagation).
    """

    dialect = S3Dialect()
    location = "s3://payload-bucket"

    def __init__(self, rules: tuple[dict[str, object], ...] = (), *, lag: int = 0) -> None:
        self.rules = RuleSet(rules)
        self.generation = 0
        self.writes = 0
        self.lag = lag
        self.before_write: Callable[[], None] | None = None
        self.fail: StorageError | None = None
        self._stale: list[RuleSet] = []

    def read(self) -> Snapshot:
        if self.fail is not None:
            raise self.fail
        shown = self._stale.pop() if self._stale else self.rules
        return Snapshot(shown, self.generation)

    def write(self, rules: RuleSet, token: object, /) -> None:
        concurrent, self.before_write = self.before_write, None
        if concurrent is not None:
            concurrent()
        if token != self.generation:
            raise ConcurrentUpdate("generation moved")
        self._stale = [self.rules] * self.lag
        self.rules = rules
        self.generation += 1
        self.writes += 1

    def close(self) -> None:
        pass


def test_a_rule_added_by_someone_else_during_the_sync_survives() -> None:
    store = ScriptedStore()

    def concurrent_edit() -> None:
        store.rules = RuleSet((LOGS,))
        store.generation += 1

    store.before_write = concurrent_edit

    outcome = sync_lifecycle(RESOURCE, store, now=NOW, verify_delays=(0,))

    assert outcome.condition.reason == "RulesApplied"
    assert LOGS in store.rules.rules
    assert len(store.rules.rules) == 2
    assert store.writes == 1


def test_a_read_back_that_lags_is_waited_for() -> None:
    store = ScriptedStore((LOGS,), lag=1)

    outcome = sync_lifecycle(RESOURCE, store, now=NOW, verify_delays=(0, 0))

    assert outcome.condition.reason == "RulesApplied"
    assert outcome.status.last_verified_time == "2026-03-01T12:00:00Z"


def test_a_write_that_never_shows_is_not_reported_as_applied() -> None:
    store = ScriptedStore((LOGS,), lag=99)

    outcome = sync_lifecycle(RESOURCE, store, now=NOW, verify_delays=(0, 0, 0))

    assert outcome.applied
    assert not outcome.condition.is_true
    assert outcome.condition.reason == "NotVerified"
    assert outcome.status.last_verified_time is None


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(StorageUnreachable("no answer"), "StorageUnreachable"), (RulesRejected("bad rule"), "RulesRejected")],
)
def test_storage_failures_become_the_condition_and_keep_the_last_status(failure: StorageError, reason: str) -> None:
    previous = LifecycleStatus(owned_rule_ids=["eps-x"], foreign_rule_count=3, drift_repairs=2)
    store = ScriptedStore()
    store.fail = failure

    outcome = sync_lifecycle(RESOURCE, store, now=NOW, previous=previous)

    assert outcome.condition.reason == reason
    assert not outcome.condition.is_true
    assert outcome.status == previous
    assert outcome.plan is None
