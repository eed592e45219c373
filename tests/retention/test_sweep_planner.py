"""The sweep planner, for arbitrary listings: never a referenced object, never one inside the grace period."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payload_operator.planning.keys import payload_key
from payload_operator.planning.objects import ObjectInfo
from payload_operator.planning.orphans import ObjectClass, SweepTally, parse_duration, plan, still_deletable

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PREFIXES = st.sampled_from(["", "namespaces/orders", "a/b/c"])


def sha(seed: int) -> str:
    return hashlib.sha256(str(seed).encode()).hexdigest()


@st.composite
def listings(draw: st.DrawFn) -> tuple[str, list[ObjectInfo], set[str], timedelta]:
    prefix = draw(PREFIXES)
    seeds = draw(st.lists(st.integers(0, 10_000), max_size=60, unique=True))
    keys = [payload_key(prefix, sha(s)) for s in seeds]
    keys += draw(st.lists(st.text(min_size=1, max_size=40), max_size=10))  # anything a bucket may hold
    keys += [payload_key(prefix, sha(s)) + ".tmp" for s in draw(st.lists(st.integers(0, 99), max_size=3))]
    ages = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
    listed = [ObjectInfo(key, draw(st.integers(0, 10**9)), NOW - draw(ages)) for key in keys]
    referenced = set(draw(st.lists(st.sampled_from(keys), max_size=len(keys)))) if keys else set()
    referenced |= set(draw(st.lists(st.text(max_size=20), max_size=5)))  # references to objects not listed
    min_age = draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)))
    return prefix, listed, referenced, min_age


@given(listings())
def test_candidates_are_exactly_the_old_unreferenced_payload_keys(
    case: tuple[str, list[ObjectInfo], set[str], timedelta],
) -> None:
    prefix, listed, referenced, min_age = case
    tally = SweepTally()
    candidates = plan(listed, referenced, prefix=prefix, now=NOW, min_age=min_age, tally=tally)
    for info in candidates:
        assert info.key not in referenced
        assert NOW - info.last_modified >= min_age
        assert info.key == payload_key(prefix, info.key.rsplit("/", 1)[-1])
    expected = [
        i
        for i in listed
        if i.key not in referenced
        and NOW - i.last_modified >= min_age
        and i.key == payload_key(prefix, i.key.rsplit("/", 1)[-1])
        and len(i.key.rsplit("/", 1)[-1]) == 64
    ]
    assert candidates == expected
    assert tally.listed == len(listed) == sum(tally.counts.values())
    assert tally.candidate_bytes == sum(i.size for i in candidates)
    assert tally.sample == [i.key for i in candidates][:10]


@given(
    st.one_of(st.none(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9))),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9)),
)
def test_the_delete_time_check_spares_vanished_and_rewritten_objects(age: timedelta | None, min_age: timedelta) -> None:
    current = None if age is None else ObjectInfo("k", 1, NOW - age)
    assert still_deletable(current, now=NOW, min_age=min_age) == (age is not None and age >= min_age)


def test_a_referenced_object_stays_referenced_however_old() -> None:
    key = payload_key("", sha(1))
    tally = SweepTally()
    old = ObjectInfo(key, 5, NOW - timedelta(days=3650))
    assert plan([old], {key}, prefix="", now=NOW, min_age=timedelta(0), tally=tally) == []
    assert tally.counts[ObjectClass.REFERENCED] == 1


@pytest.mark.parametrize(("text", "seconds"), [("72h", 259200), ("1d12h", 129600), ("90s", 90), ("1h30m", 5400)])
def test_grace_periods_read_as_the_spec_writes_them(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "72", "h", "3w", "1h 2m"])
def test_other_grace_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
