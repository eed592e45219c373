"""Unit tests see the operator's own defaults, not the settings an earlier suite's operator put in the environment.

The session's in-process operator (tests/support/operator_fixtures.py) exports OPERATOR_ENV, the permissive
test tenant policy among it, for as long as the session lives; OperatorConfig() reads the environment.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_operator_settings_from_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PAYLOAD_OPERATOR_")]:
        monkeypatch.delenv(name)
