"""The lifecycle sync against every provider: foreign rules survive everything, owners never fight.

Each scenario runs on moto, Ceph RGW, the GCS emulator and the ARM emulator (Azure management
policies), reading the bucket back through an independent client.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from payload_operator.api.resource import Resource
from payload_operator.api.status import LifecycleStatus
from payload_operator.reconcile.bucket_rules import LifecycleOutcome, remove_owned_rules, sync_lifecycle
from tests.lifecycle.benches import UID_B, RuleBench, as_multiset

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sync(bench: RuleBench, resource: Resource, **options: Any) -> LifecycleOutcome:
    store = bench.store()
    try:
        return sync_lifecycle(resource, store, now=NOW, **options)
    finally:
        store.close()


def remove(bench: RuleBench, resource: Resource, previous: LifecycleStatus | None = None) -> LifecycleOutcome:
    store = bench.store()
    try:
        return remove_owned_rules(resource, store, now=NOW, previous=previous)
    finally:
        store.close()


def test_foreign_rules_survive_create_update_drift_repair_and_removal(bench: RuleBench) -> None:
    bench.put_raw(bench.foreign_seed())
    foreign = bench.foreign()
    assert len(foreign) == len(bench.foreign_seed())

    created = sync(bench, bench.resource())
    assert created.condition.is_true, created.condition
    assert created.condition.reason == "RulesApplied"
    assert f"1 owned rule applied, {len(foreign)} foreign rules preserved" in created.condition.message
    assert created.status.foreign_rule_count == len(foreign)
    assert created.status.last_verified_time == "2026-03-01T12:00:00Z"
    assert bench.active_days("dw/tmp/") == [10]
    assert bench.foreign() == foreign

    unchanged = sync(bench, bench.resource(), previous=created.status)
    assert unchanged.condition.is_true
    assert not unchanged.applied

    updated = sync(bench, bench.resource(lifecycle={"expirationDays": 3}), previous=unchanged.status, spec_changed=True)
    assert updated.applied
    assert not updated.drift_repaired
    assert bench.active_days("dw/tmp/") == [3]
    assert bench.foreign() == foreign

    bench.put_raw([bench.with_days(r, 99) if bench.is_ours(r) else r for r in bench.raw()])
    edited = sync(bench, bench.resource(lifecycle={"expirationDays": 3}), previous=updated.status)
    assert edited.drift_repaired
    assert edited.status.drift_repairs == 1
    assert "drift repaired" in edited.condition.message
    assert bench.active_days("dw/tmp/") == [3]
    assert bench.foreign() == foreign

    bench.put_raw([r for r in bench.raw() if not bench.is_ours(r)])
    restored = sync(bench, bench.resource(lifecycle={"expirationDays": 3}), previous=edited.status)
    assert restored.drift_repaired
    assert restored.status.drift_repairs == 2
    assert bench.active_days("dw/tmp/") == [3]
    assert bench.foreign() == foreign

    removed = remove(bench, bench.resource(), previous=restored.status)
    assert removed.condition.is_true
    assert removed.condition.reason == "RulesRemoved"
    assert removed.status.owned_rule_ids == []
    assert bench.owned("dw/tmp/") == []
    assert bench.foreign() == foreign
    assert not bench.configuration_gone()


def test_removing_the_last_owned_rule_removes_the_configuration(bench: RuleBench) -> None:
    sync(bench, bench.resource(lifecycle={"tmpPrefixes": ["tmp/", "scratch/"]}))
    assert len(bench.raw()) == 2

    removed = remove(bench, bench.resource())

    assert removed.condition.is_true
    assert "2 removed, configuration deleted" in removed.condition.message
    assert bench.configuration_gone()


def test_resources_with_disjoint_prefixes_share_a_bucket(bench: RuleBench) -> None:
    orders = bench.resource()
    invoices = bench.resource(name="invoices", uid=UID_B, prefix="dw2", lifecycle={"expirationDays": 4})

    first = sync(bench, orders)
    second = sync(bench, invoices)
    again = sync(bench, orders, previous=first.status)

    assert [first.condition.reason, second.condition.reason, again.condition.reason] == ["RulesApplied"] * 3
    assert not again.applied
    assert bench.active_days("dw/tmp/") == [10]
    assert bench.active_days("dw2/tmp/") == [4]
    assert second.status.foreign_rule_count == 1  # the other resource's rule, preserved


def test_overlapping_resources_both_report_conflict_and_neither_takes_over(bench: RuleBench) -> None:
    orders = bench.resource()
    rival = bench.resource(name="rival", uid=UID_B, lifecycle={"expirationDays": 1})
    first = sync(bench, orders)

    rival_view = sync(bench, rival)
    orders_view = sync(bench, orders, previous=first.status)

    assert rival_view.condition.reason == "Conflict"
    assert not rival_view.condition.is_true
    assert orders_view.condition.reason == "Conflict"
    assert "owner uid 0b0b0b0b" in orders_view.condition.message
    assert bench.active_days("dw/tmp/") == [10]  # only the first owner's rule acts; 1 day never applies

    remove(bench, rival)
    resolved = sync(bench, orders, previous=orders_view.status)
    assert resolved.condition.reason == "RulesApplied"
    assert bench.active_days("dw/tmp/") == [10]


def skipping_validation(resource: Resource, tmp_prefixes: list[str]) -> Resource:
    """The resource with tmpPrefixes set as if schema validation had not run (model_copy skips it)."""
    assert resource.spec.lifecycle is not None
    lifecycle = resource.spec.lifecycle.model_copy(update={"tmp_prefixes": tmp_prefixes})
    return replace(resource, spec=resource.spec.model_copy(update={"lifecycle": lifecycle}))


@pytest.mark.parametrize("unsafe", ["avro/", "avro/cache/", "quarantine/"])
def test_a_prefix_reaching_protected_objects_is_refused_and_nothing_is_written(bench: RuleBench, unsafe: str) -> None:
    """The model refuses these prefixes already; this is the planner's own guard behind it."""
    bench.put_raw(bench.foreign_seed())
    before = as_multiset(bench.raw())

    outcome = sync(bench, skipping_validation(bench.resource(), ["tmp/", unsafe]))

    assert outcome.condition.reason == "UnsafePrefix"
    assert not outcome.condition.is_true
    assert f"'dw/{unsafe}'" in outcome.condition.message
    assert "nothing written" in outcome.condition.message
    assert as_multiset(bench.raw()) == before


def test_observe_and_dry_run_report_drift_without_writing(bench: RuleBench) -> None:
    bench.put_raw(bench.foreign_seed())
    before = as_multiset(bench.raw())

    observed = sync(bench, bench.resource(managementPolicy="Observe"))
    planned = sync(bench, bench.resource(), apply=False)

    for outcome in (observed, planned):
        assert outcome.condition.reason == "DriftDetected"
        assert not outcome.applied
        assert "would add 1, change 0, remove 0 owned rules" in outcome.condition.message
    assert as_multiset(bench.raw()) == before

    sync(bench, bench.resource())
    in_place = sync(bench, bench.resource(managementPolicy="Observe"))
    assert in_place.condition.is_true
    assert in_place.condition.reason == "Observed"
