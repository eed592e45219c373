"""docs/troubleshooting.md names every condition reason and Event the operator emits, read from its source.

The source is scanned rather than listed here, so a reason added to the code without a line in the docs fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "operator" / "payload_operator"
WORD = r'"([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*)"'
# Where the code spells reasons out: error classes' `reason = "..."`, conditions and Events built with a literal.
REASON_PATTERNS = (
    rf"^\s+reason = {WORD}",
    rf"(?:true|false|unknown)\(\s*ConditionType\.[A-Z_]+,\s*{WORD}",
    rf'EventNote\(\s*"(?:Normal|Warning)",\s*{WORD}',
    rf"reason={WORD}",
)
EVENT_PATTERNS = (REASON_PATTERNS[2], REASON_PATTERNS[3])
# Events whose reason is a variable at the call site.
COMPUTED_EVENTS = {"RunFailed", "RunPartiallyFailed", "TenantPolicyDenied"}


def _scan(patterns: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        for pattern in patterns:
            found.update(re.findall(pattern, text, re.M))
    return found


def _doc(name: str) -> str:
    return (REPO / "docs" / name).read_text()


def test_the_scan_finds_reasons() -> None:
    """A guard for the scan itself: the patterns must still match how the code is written."""
    assert {"SecretNotFound", "StorageAccessDenied", "InvalidSpec", "RunSucceeded", "DeletionIncomplete"} <= _scan(
        REASON_PATTERNS
    )


@pytest.mark.parametrize("reason", sorted(_scan(REASON_PATTERNS)))
def test_every_reason_is_explained(reason: str) -> None:
    assert f"`{reason}`" in _doc("troubleshooting.md")


@pytest.mark.parametrize("event", sorted(_scan(EVENT_PATTERNS) | COMPUTED_EVENTS))
def test_every_event_is_in_both_events_lists(event: str) -> None:
    events = _doc("troubleshooting.md").split("## Events", 1)[1]
    assert f"| `{event}`" in events or f", `{event}`" in events
    assert f"`{event}`" in _doc("operating.md").split("### Events", 1)[1].split("##", 1)[0]
