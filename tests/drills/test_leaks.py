"""The secret scan itself: it finds a secret in every spelling drills look for, and never passes vacuously."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from tests.drills.leaks import assert_no_secrets, find_secrets

SECRET = "drill/token+0123456789abcdef="


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {SECRET}",
        json.dumps({"data": {"token": base64.b64encode(SECRET.encode()).decode()}}),
        f"https://dw.example/?token={quote(SECRET, safe='')}&x=1",
    ],
    ids=["plain", "base64", "url-encoded"],
)
def test_every_spelling_is_found_and_named_without_the_value(text: str) -> None:
    evidence = {"operator log": "started", "ns events": text}
    found = find_secrets(evidence, [SECRET])
    assert found, text
    assert all(SECRET not in line for line in found), "the report must not repeat the secret"
    with pytest.raises(AssertionError, match="ns events"):
        assert_no_secrets(evidence, [SECRET])


def test_clean_evidence_passes_and_empty_evidence_fails() -> None:
    assert_no_secrets({"operator log": "reconciled payloads", "ns resources": "{}"}, [SECRET])
    with pytest.raises(AssertionError, match="no operator log to scan"):
        assert_no_secrets({"operator log": ""}, [SECRET])


def test_short_values_are_refused_rather_than_matched_by_coincidence() -> None:
    with pytest.raises(ValueError, match="too short"):
        find_secrets({"operator log": "abc"}, ["abc"])
