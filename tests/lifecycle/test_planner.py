"""The lifecycle planner without any server: identity, safety, normalisation, merge, conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from payload_operator.api.spec import LifecycleMode
from payload_operator.planning.bucket_rules import (
    DesiredRule,
    Owner,
    RuleSet,
    digest,
    lifecycle_mode,
    plan_removal,
    plan_rules,
    plan_sync,
    unsafe_reason,
)
from payload_operator.planning.rule_dialects import AzureDialect, GcsDialect, HashedClaim, S3Dialect
from payload_operator.planning.tmp_expiry import cutoff, expired
from tests.lifecycle.benches import make_resource

S3 = S3Dialect()
GCS = GcsDialect()
AZURE = AzureDialect("payloads")
ORDERS = Owner("shop", "orders", "0a0a0a0a")
RIVAL = Owner("shop", "rival", "0b0b0b0b")
S3_BLOCK = {"bucket": "payload-bucket"}


def s3_spec(**lifecycle: Any) -> Any:
    return make_resource("s3", S3_BLOCK, lifecycle=lifecycle).spec


def tmp_rule(owner: Owner, prefix: str = "dw/tmp/", days: int = 10, *, enabled: bool = True) -> dict[str, Any]:
    encoded = S3.encode(DesiredRule(prefix, days, 1), S3.rule_id(owner, prefix), enabled=enabled)
    return dict(encoded)


# ---------------------------------------------------------------- identity


def test_s3_rule_ids_name_the_owner_and_fit_255_characters() -> None:
    long_owner = Owner("n" * 63, "m" * 253, "0a0a0a0a")

    short = S3.rule_id(ORDERS, "dw/tmp/")
    long = S3.rule_id(long_owner, "dw/tmp/")

    assert short.startswith("eps-0a0a0a0a-")
    assert short.endswith("-shop.orders")
    assert len(long) == 255
    assert S3.rule_id(ORDERS, "dw/tmp/") != S3.rule_id(ORDERS, "dw/scratch/")


def test_azure_rule_names_are_alphanumeric() -> None:
    name = AZURE.rule_id(Owner("team-a", "orders.prod", "0a0a0a0a"), "payloads/dw/tmp/")

    assert name.isalnum()
    assert name.startswith("eps0a0a0a0a")
    assert name.endswith("teamaordersprod")


# ---------------------------------------------------------------- safety


@pytest.mark.parametrize(
    ("prefix", "tmp", "covered"),
    [
        ("dw", "avro/", "dw/avro/"),
        ("dw", "avro/cache/", "dw/avro/"),
        ("dw", "quarantine/", "dw/quarantine/"),
        ("", "avro/", "avro/"),
    ],
)
def test_prefixes_covering_payloads_or_quarantine_are_unsafe(prefix: str, tmp: str, covered: str) -> None:
    reason = unsafe_reason(prefix, tmp)

    assert reason is not None
    assert f"would cover {covered!r}" in reason


@pytest.mark.parametrize("tmp", ["../", "/tmp/", "tmp", "a//b/", "./"])
def test_prefixes_that_could_leave_the_root_are_unsafe(tmp: str) -> None:
    reason = unsafe_reason("dw", tmp)

    assert reason is not None
    assert "never reaching outside <root> 'dw/'" in reason


@pytest.mark.parametrize(("prefix", "tmp"), [("dw", "tmp/"), ("", "tmp/"), ("", "a/avro-cache/"), ("dw", "tmp/avros/")])
def test_temporary_prefixes_beside_the_payloads_are_safe(prefix: str, tmp: str) -> None:
    assert unsafe_reason(prefix, tmp) is None


@pytest.mark.parametrize(
    ("prefix", "tmp", "segment"),
    [
        ("", "a/avro/", "avro"),
        ("dw", "tmp/avro/", "avro"),
        ("dw/avro", "00/", "avro"),
        ("x", "q/quarantine/", "quarantine"),
    ],
)
def test_an_avro_or_quarantine_segment_at_any_depth_is_unsafe(prefix: str, tmp: str, segment: str) -> None:
    """Another resource's root may sit there: its content-addressed payloads are never a rule's target."""
    reason = unsafe_reason(prefix, tmp)

    assert reason is not None
    assert f"has a {segment!r} segment" in reason


@pytest.mark.parametrize(
    ("lifecycle", "message"),
    [
        ({"expirationDays": 0}, "greater than or equal to 1"),
        ({"expirationDays": 3651}, "less than or equal to 3650"),
        ({"tmpPrefixes": ["tmp"]}, "should match pattern"),
        ({"tmpPrefixes": ["avro/"]}, "must not have an avro or quarantine segment"),
        ({"tmpPrefixes": ["team/avro/00/"]}, "must not have an avro or quarantine segment"),
        ({"tmpPrefixes": [f"t{i}/" for i in range(11)]}, "at most 10 items"),
    ],
)
def test_invalid_lifecycle_specs_are_refused_by_the_model(lifecycle: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_resource("s3", S3_BLOCK, lifecycle=lifecycle)


# ---------------------------------------------------------------- modes


@pytest.mark.parametrize(
    ("driver", "block", "mode", "expected"),
    [
        ("s3", S3_BLOCK, "Native", LifecycleMode.NATIVE),
        ("s3", S3_BLOCK, "Sweep", LifecycleMode.SWEEP),
        ("gcs", {"bucket": "payload-bucket"}, "Native", LifecycleMode.NATIVE),
        (
            "azure",
            {"container": "payloads", "accountUrl": "https://a.blob.core.windows.net"},
            "Native",
            LifecycleMode.SWEEP,
        ),
        ("local", {"path": "/srv/payloads"}, "Native", LifecycleMode.SWEEP),
    ],
)
def test_native_rules_only_where_the_provider_keeps_them(
    driver: str, block: dict[str, Any], mode: str, expected: LifecycleMode
) -> None:
    spec = make_resource(driver, block, lifecycle={"mode": mode}).spec

    assert lifecycle_mode(spec) is expected


def test_switching_to_sweep_mode_removes_our_native_rules() -> None:
    current = RuleSet((tmp_rule(ORDERS),))

    plan = plan_sync(S3, ORDERS, s3_spec(mode="Sweep"), current)

    assert [r.rule_id for r in plan.remove] == [S3.rule_id(ORDERS, "dw/tmp/")]
    assert plan.deletes_configuration


# ---------------------------------------------------------------- normalisation: no spurious drift


@pytest.mark.parametrize(
    "as_read",
    [
        {"Prefix": "dw/tmp/"},
        {"Filter": {"And": {"Prefix": "dw/tmp/"}}},
        {"Expiration": {"Days": 10, "ExpiredObjectDeleteMarker": False}},
    ],
)
def test_s3_server_spellings_of_our_rule_are_not_drift(as_read: dict[str, Any]) -> None:
    ours = tmp_rule(ORDERS)
    if "Prefix" in as_read or "Filter" in as_read:
        ours.pop("Filter")
    current = RuleSet((ours | as_read,))

    plan = plan_sync(S3, ORDERS, s3_spec(), current)

    assert not plan.needs_write
    assert [r.rule_id for r in plan.keep] == [S3.rule_id(ORDERS, "dw/tmp/")]
    assert plan.result.rules == current.rules  # kept exactly as read


def test_s3_rule_with_an_added_transition_is_drift() -> None:
    edited = tmp_rule(ORDERS) | {"Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}

    plan = plan_sync(S3, ORDERS, s3_spec(), RuleSet((edited,)))

    assert [r.rule_id for r in plan.change] == [S3.rule_id(ORDERS, "dw/tmp/")]


def test_azure_defaults_and_float_days_are_not_drift() -> None:
    desired = DesiredRule("payloads/dw/tmp/", 10, 1)
    as_read = dict(AZURE.encode(desired, AZURE.rule_id(ORDERS, desired.prefix), enabled=True))
    as_read.pop("enabled")
    as_read["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"] = 10.0

    plan = plan_rules(AZURE, ORDERS, [desired], RuleSet((as_read,)))

    assert not plan.needs_write


# ---------------------------------------------------------------- merge


def test_merge_keeps_foreign_rules_first_and_unchanged() -> None:
    foreign = [
        {"Expiration": {"Days": 10}, "Prefix": "cirrus/tmp/", "Status": "Enabled"},
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 7}},
    ]

    plan = plan_sync(S3, ORDERS, s3_spec(), RuleSet(tuple(foreign)))

    assert list(plan.result.rules[:2]) == foreign
    assert plan.result.rules[0] is foreign[0]
    assert [r.prefix for r in plan.add] == ["dw/tmp/"]
    assert plan.foreign_count == 2


def test_dropped_prefixes_and_duplicates_of_ours_are_removed() -> None:
    current = RuleSet((tmp_rule(ORDERS), tmp_rule(ORDERS, "dw/scratch/"), tmp_rule(ORDERS, "dw/scratch/")))

    plan = plan_sync(S3, ORDERS, s3_spec(), current)

    assert [r.prefix for r in plan.keep] == ["dw/tmp/"]
    assert [r.prefix for r in plan.remove] == ["dw/scratch/", "dw/scratch/"]
    assert plan.result.rules == (tmp_rule(ORDERS),)


def test_removal_keeps_foreign_rules_and_deletes_the_configuration_only_when_none_is_left() -> None:
    logs = {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 7}}

    with_foreign = plan_removal(S3, ORDERS, s3_spec(), RuleSet((tmp_rule(ORDERS), logs)))
    alone = plan_removal(S3, ORDERS, s3_spec(), RuleSet((tmp_rule(ORDERS),)))

    assert with_foreign.result.rules == (logs,)
    assert not with_foreign.deletes_configuration
    assert alone.result.rules == ()
    assert alone.deletes_configuration


def test_too_many_rules_are_refused() -> None:
    foreign = tuple({"ID": f"r{i}", "Filter": {"Prefix": f"p{i}/"}, "Status": "Enabled"} for i in range(1000))

    plan = plan_sync(S3, ORDERS, s3_spec(), RuleSet(foreign))

    assert [r.reason for r in plan.refusals] == ["TooManyRules"]
    assert not plan.needs_write


# ---------------------------------------------------------------- conflicts


@pytest.mark.parametrize("rival_prefix", ["dw/tmp/", "dw/", "dw/tmp/deep/"])
def test_another_owners_overlapping_rule_is_a_conflict_and_ours_is_written_disabled(rival_prefix: str) -> None:
    current = RuleSet((tmp_rule(RIVAL, rival_prefix, days=1),))

    plan = plan_sync(S3, ORDERS, s3_spec(), current)

    assert [(c.prefix, c.other_owner) for c in plan.conflicts] == [("dw/tmp/", "0b0b0b0b")]
    assert plan.result.rules[0] == current.rules[0]
    assert plan.result.rules[1]["Status"] == "Disabled"


def test_our_existing_rule_is_left_alone_while_in_conflict() -> None:
    ours = tmp_rule(ORDERS, days=30)
    current = RuleSet((ours, tmp_rule(RIVAL, days=1, enabled=False)))

    plan = plan_sync(S3, ORDERS, s3_spec(), current)

    assert plan.conflicts
    assert not plan.needs_write
    assert ours in plan.result.rules


def test_foreign_rules_overlapping_ours_are_no_conflict() -> None:
    cirrus = {"Expiration": {"Days": 10}, "Prefix": "dw/tmp/", "Status": "Enabled"}

    plan = plan_sync(S3, ORDERS, s3_spec(), RuleSet((cirrus,)))

    assert not plan.conflicts
    assert [r.prefix for r in plan.add] == ["dw/tmp/"]


@pytest.mark.parametrize(
    ("claimed", "ours", "overlap"),
    [
        ("dw/tmp/", "dw/tmp/", True),
        ("dw/", "dw/tmp/", True),
        ("dw/tmp/deep/", "dw/tmp/", True),
        ("dw/scratch/", "dw/tmp/", False),
        ("dw2/tmp/", "dw/tmp/", False),
    ],
)
def test_gcs_labels_reveal_overlapping_claims(claimed: str, ours: str, overlap: bool) -> None:
    labels = GCS.labels({}, RIVAL, [claimed])
    [claim] = GCS.claims(RuleSet((), labels))

    assert isinstance(claim, HashedClaim)
    assert claim.owner == "0b0b0b0b"
    assert claim.overlaps(ours) is overlap


def test_gcs_ownership_labels_are_recorded_and_foreign_labels_kept() -> None:
    plan = plan_rules(GCS, ORDERS, [DesiredRule("dw/tmp/", 10, 1)], RuleSet((), {"team": "data"}))

    assert plan.result.labels["team"] == "data"
    assert set(plan.result.labels) == {"team", f"eps-0a0a0a0a-{digest('dw/tmp/')}"}
    assert plan.result.rules == (
        {"action": {"type": "Delete"}, "condition": {"age": 10, "matchesPrefix": ["dw/tmp/"]}},
    )


def test_a_gcs_rule_claimed_by_another_owner_is_not_ours() -> None:
    rule = {"action": {"type": "Delete"}, "condition": {"age": 1, "matchesPrefix": ["dw/tmp/"]}}
    labels = GCS.labels({}, RIVAL, ["dw/tmp/"])

    plan = plan_rules(GCS, ORDERS, [DesiredRule("dw/tmp/", 10, 1)], RuleSet((rule,), labels))

    assert plan.foreign == (rule,)
    assert not plan.add
    assert not plan.change
    assert plan.conflicts


# ---------------------------------------------------------------- sweep decisions


def test_sweep_deletes_only_old_keys_under_the_prefix() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    before = cutoff(now, 10)

    assert before == now - timedelta(days=10)
    assert expired("dw/tmp/a", before - timedelta(seconds=1), "dw/tmp/", before)
    assert not expired("dw/tmp/a", before, "dw/tmp/", before)
    assert not expired("dw/avro/ab/ab", before - timedelta(days=1), "dw/tmp/", before)
