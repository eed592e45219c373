"""Properties of the merge over arbitrary buckets and specs, for every provider's dialect:

- every rule we do not own comes out unchanged (and none is dropped or duplicated);
- no rule we would write selects payload objects (<root>/avro/), the quarantine, or keys outside <root>/;
- a spec with an unsafe prefix writes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from payload_operator.api.resource import Resource
from payload_operator.planning.bucket_rules import (
    Dialect,
    Owner,
    RuleSet,
    overlaps,
    plan_sync,
    safe_key_prefixes,
    spec_refusals,
)
from payload_operator.planning.keys import root
from payload_operator.planning.rule_dialects import AzureDialect, GcsDialect, S3Dialect
from tests.lifecycle.benches import make_resource

OWNER = Owner("shop", "orders", "0a0a0a0a")
CONTAINER = "payloads"
SEGMENTS = st.sampled_from(["dw", "tmp", "avro", "quarantine", "a", "x.y", "..", "", "."])
KEY_PREFIX = st.lists(SEGMENTS, min_size=0, max_size=3).map(lambda parts: "".join(f"{p}/" for p in parts))
SPEC_PREFIX = st.lists(st.sampled_from(["dw", "a", "avro", "tmp"]), max_size=2).map("/".join)
TMP_PREFIXES = st.lists(KEY_PREFIX.filter(bool), min_size=1, max_size=4)
OWNER_IDS = st.sampled_from(["", "logs", "eps-0b0b0b0b-12345678-x.y", "eps-0a0a0a0a-deadbeef-shop.orders"])
DAYS = st.integers(min_value=1, max_value=3650)


def s3_rule(rule_id: str, prefix: str, days: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"Filter": {"Prefix": prefix}, "Status": "Enabled", "Expiration": {"Days": days}}
    return rule | ({"ID": rule_id} if rule_id else {})


def azure_rule(rule_id: str, prefix: str, days: int) -> dict[str, Any]:
    name = rule_id.replace("-", "").replace(".", "") or "foreign"
    actions = {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": days}}}
    filters = {"blobTypes": ["blockBlob"], "prefixMatch": [f"{CONTAINER}/{prefix}"]}
    return {"name": name, "type": "Lifecycle", "definition": {"filters": filters, "actions": actions}}


def gcs_rule(_rule_id: str, prefix: str, days: int) -> dict[str, Any]:
    return {"action": {"type": "Delete"}, "condition": {"age": days, "matchesPrefix": [prefix]}}


DIALECTS: list[tuple[Dialect, Any]] = [
    (S3Dialect(), s3_rule),
    (AzureDialect(CONTAINER), azure_rule),
    (GcsDialect(), gcs_rule),
]
BUCKET_RULES = st.lists(st.tuples(OWNER_IDS, KEY_PREFIX, DAYS), max_size=8)
LABELS = st.dictionaries(
    st.sampled_from(["team", "eps-0b0b0b0b-aaaaaaaa", "env"]), st.sampled_from(["", "x"]), max_size=3
)


def spec_with(prefix: str, tmp_prefixes: list[str], days: int) -> Resource:
    """A valid resource whose prefixes are then replaced without validation: the planner's own guard."""
    resource = make_resource("s3", {"bucket": "payload-bucket"}, prefix="dw")
    assert resource.spec.lifecycle is not None
    lifecycle = resource.spec.lifecycle.model_copy(update={"tmp_prefixes": tmp_prefixes, "expiration_days": days})
    return replace(resource, spec=resource.spec.model_copy(update={"prefix": prefix, "lifecycle": lifecycle}))


def as_text(rule: Any) -> str:
    return json.dumps(rule, sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(
    dialect_index=st.integers(min_value=0, max_value=len(DIALECTS) - 1),
    bucket=BUCKET_RULES,
    labels=LABELS,
    prefix=SPEC_PREFIX,
    tmp_prefixes=TMP_PREFIXES,
    days=DAYS,
)
def test_merge_preserves_foreign_rules_and_never_targets_protected_keys(
    dialect_index: int,
    bucket: list[tuple[str, str, int]],
    labels: dict[str, str],
    prefix: str,
    tmp_prefixes: list[str],
    days: int,
) -> None:
    dialect, make_rule = DIALECTS[dialect_index]
    resource = spec_with(prefix, tmp_prefixes, days)
    current = RuleSet(tuple(make_rule(*entry) for entry in bucket), labels)

    plan = plan_sync(dialect, OWNER, resource.spec, current)

    known = frozenset(dialect.scope(p) for p in safe_key_prefixes(resource.spec))
    foreign = Counter(as_text(r) for r in current.rules if dialect.owned_id(r, OWNER, current.labels, known) is None)
    assert not foreign - Counter(as_text(r) for r in plan.result.rules)
    if spec_refusals(resource.spec):
        assert not plan.needs_write
    if not plan.needs_write:
        return
    base = dialect.scope(root(prefix))
    protected = [base + d for d in ("avro/", "quarantine/")]
    for rule in plan.result.rules:
        if dialect.owned_id(rule, OWNER, plan.result.labels, frozenset()) is not None:
            written = dialect.prefix_of(rule)
            assert written.startswith(base), rule
            assert not any(overlaps(written, p) for p in protected), rule
