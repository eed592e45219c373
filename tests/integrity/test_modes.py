"""What an integrity run reports in the situations around the plain check: inlining servers, Gen B
references, references outside the storage, shards, sampling, quarantine, stray keys, a broken walk."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from devkit.dw_emulator import EmulatedServer

from payload_operator.api.spec import IntegrityMode
from payload_operator.core.run_context import Shard
from payload_operator.planning.keys import in_sample
from payload_operator.tasks.integrity.report import merge
from payload_operator.tasks.integrity.run import IntegrityRun
from tests.integrity.conftest import (
    Target,
    delete,
    flip_byte,
    object_key,
    payload_values,
    problems,
    read_all,
    seed_histories,
    truncate,
    typed,
    wire,
    write_with_sdk,
)

SDK = sys.executable  # durable-workflow 2.12.0
SIZES = [3_000, 5_000, 8_000, 13_000, 21_000, 34_000]


def written(target: Target, server: EmulatedServer | None, sizes: list[int] = SIZES) -> list[str]:
    envelopes = write_with_sdk(SDK, target, payload_values(sizes))
    if server is not None:
        seed_histories(server, envelopes)
    return [object_key(target, envelope) for envelope in envelopes]


def listed(target: Target, prefix: str) -> list[str]:
    store = target.store()
    try:
        return [info.key for info in store.list(prefix)]
    finally:
        store.close()


def damage(target: Target, *changes: tuple[Any, str]) -> None:
    store = target.store()
    try:
        for change, key in changes:
            change(store, key)
    finally:
        store.close()


@pytest.mark.parametrize("target", ["local"], indirect=True)
@pytest.mark.parametrize(
    "server_options",
    [{}, {"profile": "references", "inline_payloads": True}],
    ids=["captured-server-advertises-no-references", "walk-finds-payloads-inline"],
)
def test_referenced_mode_on_an_inlining_server_never_claims_success(
    target: Target, server_options: dict[str, Any]
) -> None:
    """Referenced checks only references; where none are observable it checks nothing and says so (never
    Succeeded beside a store holding objects); Both still runs its Inventory half."""
    with EmulatedServer("A", **server_options) as server:
        server.set_policy("default", {"driver": "local", "enabled": True, "config": {"uri": f"file://{target.bucket}"}})
        keys = written(target, server)
        damage(target, (flip_byte, keys[3]))

        referenced = target.run(server, IntegrityMode.REFERENCED)
        both = target.run(server, IntegrityMode.BOTH)

    assert (referenced["referencesObservable"], referenced["checked"], referenced["storeHoldsObjects"]) == (
        False,
        0,
        True,
    )
    assert any(note.startswith("references not observable: ") for note in referenced["notes"])
    status, message = IntegrityRun().outcome(typed(referenced))
    assert status == "PartiallyFailed"
    assert "all ok" not in message
    assert "references are not observable" in message
    assert "nothing checked while the store holds payload objects" in message
    assert both["referencesObservable"] is False
    assert (both["checked"], both["ok"], problems(both)) == (6, 5, [("hash", keys[3])])
    assert IntegrityRun().outcome(typed(both))[0] == "Failed"


@pytest.mark.parametrize("target", ["local", "s3"], indirect=True)
def test_gen_b_references_resolve_to_keys_from_prefix_codec_and_sha256(target: Target) -> None:
    with EmulatedServer("B") as server:
        keys = written(target, server)
        damage(target, (truncate, keys[0]), (delete, keys[5]))
        run_id = server.run_ids("default")[0]
        page = httpx.get(f"{server.url}/api/workflows/wf-0/runs/{run_id}/history", headers=server.headers()).text
        assert "external_payload" in page
        assert "external_storage" not in page  # no URI on the wire: keys come from prefix, codec, sha256

        result = target.run(server, IntegrityMode.REFERENCED)

    assert result["references"] > 0
    assert problems(result) == [("missing", keys[5]), ("size", keys[0])]
    assert result["ok"] == 4


@pytest.mark.parametrize("target", ["s3"], indirect=True)
def test_references_outside_the_bucket_or_prefix_are_reported_and_never_read(
    target: Target, emulator: EmulatedServer
) -> None:
    keys = written(target, emulator)
    good = write_with_sdk(SDK, target, payload_values([4_000], seed=7))[0]
    reference = good["external_storage"]
    outside = {
        "other-bucket": reference["uri"].replace(f"s3://{target.bucket}/", "s3://other-bucket/"),
        "other-prefix": reference["uri"].replace("namespaces/default/", "namespaces/other/"),
        "wrong-name": reference["uri"][:-64] + "0" * 64,
    }
    for name, uri in outside.items():
        emulator.add_workflow("default", name, input={**good, "external_storage": {**reference, "uri": uri}})

    result = target.run(emulator, IntegrityMode.REFERENCED)

    assert result["invalidReferences"] >= 3  # each workflow shows its input more than once
    assert {key for problem, key in problems(result) if problem == "invalid"} == set(outside.values())
    assert (result["checked"], result["ok"]) == (len(keys), len(keys))  # nothing outside was read
    assert IntegrityRun().outcome(typed(result))[0] == "PartiallyFailed"


@pytest.mark.parametrize("target", ["local"], indirect=True)
def test_shards_split_the_work_and_merge_to_the_unsharded_result(target: Target, emulator: EmulatedServer) -> None:
    keys = written(target, emulator, [2_000 + 500 * n for n in range(24)])
    damage(target, (flip_byte, keys[0]), (truncate, keys[9]), (delete, keys[17]))
    whole = target.run(emulator, IntegrityMode.BOTH)

    shards = [target.run(emulator, IntegrityMode.BOTH, Shard(i, 3)) for i in range(3)]

    assert sum(1 for shard in shards if shard["checked"]) > 1  # the work really is split
    merged = wire(merge([typed(shard) for shard in shards]))
    for count in ("checked", "ok", "missing", "corrupt", "corruptSize", "corruptHash", "bytes"):
        assert merged[count] == whole[count], count
    assert problems(merged) == problems(whole)
    assert merged["shards"] == 3


@pytest.mark.parametrize("target", ["local"], indirect=True)
def test_sampling_checks_the_same_stable_share_every_run(target: Target) -> None:
    keys = written(target, None, [1_500 + 10 * n for n in range(40)])
    damage(target, *((flip_byte, key) for key in keys))
    sampled = [key for key in keys if in_sample(key.rpartition("/")[2], 0.5)]

    first = target.run(None, IntegrityMode.INVENTORY, sampleRatio=0.5)
    second = target.run(None, IntegrityMode.INVENTORY, sampleRatio=0.5)

    assert 0 < len(sampled) < len(keys)
    assert first["corrupt"] == second["corrupt"] == first["checked"] == len(sampled)
    assert problems(first) == problems(second)
    assert {key for _, key in problems(first)} <= set(sampled)


@pytest.mark.parametrize("target", ["local", "s3", "gcs", "azure"], indirect=True)
def test_quarantine_copies_corrupt_objects_aside_with_a_note_and_deletes_nothing(
    target: Target, emulator: EmulatedServer
) -> None:
    keys = written(target, emulator)
    damage(target, (truncate, keys[1]), (delete, keys[4]))
    store = target.store()
    truncated = read_all(store, keys[1])
    store.close()

    result = target.run(emulator, IntegrityMode.BOTH, onCorrupt="Quarantine")

    root = f"{target.prefix}/" if target.prefix else ""
    relative = keys[1][len(root) :]
    assert (result["quarantined"], result["quarantineFailed"]) == (1, 0)
    assert sorted(listed(target, f"{root}quarantine/")) == [
        f"{root}quarantine/{relative}",
        f"{root}quarantine/{relative}.json",
    ]
    store = target.store()
    try:
        assert read_all(store, f"{root}quarantine/{relative}") == truncated
        note = json.loads(read_all(store, f"{root}quarantine/{relative}.json"))
        assert read_all(store, keys[1]) == truncated  # the original stays
    finally:
        store.close()
    assert note["reason"] == "size"
    assert note["expectedSha256"] == keys[1].rpartition("/")[2] != note["actualSha256"]
    assert note["actualSizeBytes"] == len(truncated) < note["expectedSizeBytes"]
    assert len(listed(target, f"{root}avro/")) == len(keys) - 1  # only the object deleted behind its back


@pytest.mark.parametrize("target", ["local"], indirect=True)
def test_keys_under_avro_that_are_not_payload_keys_are_reported(target: Target) -> None:
    keys = written(target, None)
    stray = ["avro/ab/not-a-sha256", f"avro/00/{keys[0].rpartition('/')[2]}", "avro/README", "avro/zz/x"]
    for key in stray:
        path = Path(target.bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stray")

    result = target.run(None, IntegrityMode.INVENTORY)

    assert result["malformedKeys"] == len(stray)
    assert {key for problem, key in problems(result) if problem == "malformed"} == set(stray)
    assert (result["checked"], result["ok"]) == (len(keys), len(keys))
    status, message = IntegrityRun().outcome(typed(result))
    assert (status, f"{len(stray)} malformed keys" in message) == ("Succeeded", True)


@pytest.mark.parametrize("target", ["local"], indirect=True)
def test_a_history_walk_that_fails_makes_the_run_partial(target: Target, emulator: EmulatedServer) -> None:
    written(target, emulator)
    emulator.faults.set(status=503, path_prefix="/api/workflows/wf-2/")

    result = target.run(emulator, IntegrityMode.REFERENCED)

    assert result["walk"]["failedPages"] == 1
    assert any("HTTP 503" in note for note in result["notes"])
    status, message = IntegrityRun().outcome(typed(result))
    assert status == "PartiallyFailed"
    assert "history walk incomplete (1 pages failed)" in message
