"""An absent optional module that httpcore asks for on every lock is remembered as absent; installed modules
are left alone."""

from __future__ import annotations

import sys

import pytest

from payload_operator.adapters.import_misses import remember_missing

ABSENT = "payload_operator_no_such_module"


def test_an_absent_module_is_remembered_and_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, ABSENT, raising=False)
    remember_missing((ABSENT, "json"))
    try:
        assert sys.modules[ABSENT] is None
        assert sys.modules["json"] is not None
        with pytest.raises(ImportError):
            __import__(ABSENT)
    finally:
        sys.modules.pop(ABSENT, None)
