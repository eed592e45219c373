"""The emulator answers every captured request as the real server did (status, reasons, field names,
body shapes), and the comparison is strict enough to notice an edited capture."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import ServerFactory
from .replay import EXCHANGES_DIR, NOT_REPRODUCED, capture_names, load, replay


@pytest.mark.parametrize("name", capture_names())
def test_captured_exchange_is_reproduced(name: str, make_server: ServerFactory) -> None:
    assert replay(EXCHANGES_DIR / f"{name}.json", make_server) == []


def test_every_capture_is_replayed_and_each_exception_names_a_real_step() -> None:
    assert len(capture_names()) == 29
    for capture, step in NOT_REPRODUCED:
        assert step in [exchange.step for exchange in load(EXCHANGES_DIR / f"{capture}.json")]


def _edit(path: Path, change: str) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    answer = data["exchanges"][-1]["response_body"]
    if change == "reason":
        answer["reason"] = "storage_available"
    elif change == "field":
        answer["driver_name"] = answer.pop("driver")
    data["exchanges"][-1]["status"] = 200 if change == "status" else data["exchanges"][-1]["status"]
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("change", ["reason", "field", "status"])
def test_an_edited_capture_fails(change: str, make_server: ServerFactory, tmp_path: Path) -> None:
    copy = tmp_path / "policy-sync-s3-initial.json"
    shutil.copy(EXCHANGES_DIR / copy.name, copy)
    assert replay(copy, make_server) == []
    _edit(copy, change)
    found = replay(copy, make_server)
    assert len(found) == 1
    assert found[0].startswith("policy-sync-s3-initial#4 POST /api/storage/test")
