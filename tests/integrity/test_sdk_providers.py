"""Payloads written by the real SDK (2.12.0 and 0.4.53) on every provider, then verified and damaged.

The SDK's own drivers write the objects and the references; the emulator holds histories carrying
those references (half of them spelled with the server's URI scheme where it differs from the SDK's);
the damage is done behind everyone's back, the way a disk or an operator error would do it.
"""

from __future__ import annotations

import pytest
from devkit.dw_emulator import EmulatedServer

from payload_operator.api.spec import IntegrityMode
from payload_operator.tasks.integrity.run import IntegrityRun
from tests.integrity.conftest import (
    Target,
    delete,
    flip_byte,
    object_key,
    payload_values,
    problems,
    seed_histories,
    server_spelling,
    truncate,
    typed,
    write_with_sdk,
)

# Six distinct payloads from 2 KiB to 1.5 MiB: the largest spans two read chunks.
SIZES = [2_000, 9_000, 40_000, 150_000, 600_000, 1_100_000]


@pytest.fixture
def written(sdk_python: str, target: Target, emulator: EmulatedServer) -> list[str]:
    """The SDK's objects, referenced from the emulator's histories; returns their keys (largest last)."""
    envelopes = write_with_sdk(sdk_python, target, payload_values(SIZES))
    spelled = [server_spelling(target, e) if n % 2 else e for n, e in enumerate(envelopes)]
    seed_histories(emulator, spelled)
    return [object_key(target, envelope) for envelope in envelopes]


def test_clean_objects_are_all_ok_in_every_mode(target: Target, emulator: EmulatedServer, written: list[str]) -> None:
    for mode in IntegrityMode:
        result = target.run(emulator, mode)
        assert (result["checked"], result["ok"], result["bad"]) == (len(written), len(written), []), mode
        assert IntegrityRun().outcome(typed(result))[0] == "Succeeded"
    referenced = target.run(emulator, IntegrityMode.REFERENCED)
    # histories repeat a payload (start command, started event) and wf-shared reuses one: read once each
    assert referenced["references"] > referenced["checked"] == len(written)
    assert referenced["bytes"] > sum(SIZES)


def test_each_kind_of_damage_is_reported_once_with_its_key(
    target: Target, emulator: EmulatedServer, written: list[str]
) -> None:
    flipped, truncated, deleted = written[-1], written[2], written[1]
    store = target.store()
    try:
        flip_byte(store, flipped)
        truncate(store, truncated)
        delete(store, deleted)
    finally:
        store.close()
    expected = [("missing", deleted), ("size", truncated), ("hash", flipped)]

    for mode in (IntegrityMode.BOTH, IntegrityMode.REFERENCED):
        result = target.run(emulator, mode)
        assert problems(result) == expected, mode
        counts = {k: result[k] for k in ("checked", "ok", "missing", "corrupt", "corruptSize", "corruptHash")}
        assert counts == {"checked": 6, "ok": 3, "missing": 1, "corrupt": 2, "corruptSize": 1, "corruptHash": 1}
        assert IntegrityRun().outcome(typed(result)) == (
            "Failed",
            f"1 missing, 2 corrupt (1 size, 1 hash) of 6 objects checked ({result['bytes']} bytes)",
        )

    # Without references nothing claims a size (truncation shows as a hash mismatch) and a deleted
    # object is simply not there to list.
    inventory = target.run(None, IntegrityMode.INVENTORY)
    assert sorted(problems(inventory)) == sorted([("hash", truncated), ("hash", flipped)])
    assert (inventory["checked"], inventory["ok"], inventory["missing"]) == (5, 3, 0)
