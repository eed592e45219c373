"""`payload-operator integrity` as a user runs it: a manifest, a clean environment, exit codes, reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from devkit.dw_emulator import EmulatedServer

from tests.integrity.conftest import (
    Target,
    delete,
    flip_byte,
    object_key,
    payload_values,
    seed_histories,
    write_with_sdk,
)

pytestmark = pytest.mark.parametrize("target", ["local"], indirect=True)

# Nothing ambient: no server token, no cloud credentials (a local inventory must need none).
CLEAN_ENV = {
    k: v for k, v in os.environ.items() if not k.startswith(("DW_", "AWS_", "GOOGLE_", "AZURE_", "STORAGE_EMULATOR"))
}


def manifest(tmp_path: Path, target: Target, server_url: str = "http://127.0.0.1:9") -> Path:
    resource = {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {"name": "payloads", "namespace": "apps"},
        "spec": {
            "server": {"url": server_url, "tokenSecretRef": {"name": "dw"}, "namespaces": ["default"]},
            "driver": "local",
            "local": {"path": target.bucket},
            "thresholdBytes": 1024,
            "integrity": {"concurrency": 2},
        },
    }
    path = tmp_path / "eps.yaml"
    path.write_text(yaml.safe_dump_all([{"apiVersion": "v1", "kind": "Secret"}, resource]))
    return path


def integrity(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payload_operator", "integrity", *args],
        capture_output=True,
        text=True,
        env=env or CLEAN_ENV,
        timeout=120,
        check=False,
    )


def test_a_local_inventory_never_loads_the_network_clients(tmp_path: Path, target: Target) -> None:
    """A run that opens no connection starts without aiohttp (about 0.3 s of every CLI start-up)."""
    write_with_sdk(sys.executable, target, payload_values([2_000]))
    code = (
        "import sys; from payload_operator.cli.main import main;"
        "code = main(['integrity', '-f', sys.argv[1], '--mode', 'inventory', '--json']);"
        "print(code, 'aiohttp' in sys.modules, file=sys.stderr)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(manifest(tmp_path, target))],
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        timeout=120,
        check=False,
    )
    assert (run.stderr.strip(), json.loads(run.stdout)["ok"]) == ("0 False", 1)


def test_a_local_inventory_needs_no_server_and_no_credentials(tmp_path: Path, target: Target) -> None:
    envelopes = write_with_sdk(sys.executable, target, payload_values([2_000, 3_000, 4_000]))
    eps = manifest(tmp_path, target)

    clean = integrity("-f", str(eps), "--mode", "inventory", "--json")

    assert (clean.returncode, clean.stderr) == (0, "")  # no progress lines when stderr is not a terminal
    report = json.loads(clean.stdout)
    assert {k: report[k] for k in ("outcome", "checked", "ok", "missing", "corrupt", "unreadable")} == {
        "outcome": "Succeeded",
        "checked": 3,
        "ok": 3,
        "missing": 0,
        "corrupt": 0,
        "unreadable": 0,
    }
    assert report["bytes"] == sum(e["external_storage"]["size_bytes"] for e in envelopes)

    damaged = object_key(target, envelopes[1])
    store = target.store()
    flip_byte(store, damaged)
    store.close()
    text = integrity("-f", str(eps), "--mode", "inventory")
    assert text.returncode == 1
    assert (
        "integrity Inventory (shard 0/1): Failed\n  0 missing, 1 corrupt (0 size, 1 hash) of 3 objects" in text.stdout
    )
    assert f"hash       {damaged}  expected sha256 {damaged[-64:]}; found " in text.stdout


def test_referenced_mode_reads_the_token_from_dw_token_and_exits_1_on_a_missing_object(
    tmp_path: Path, target: Target
) -> None:
    envelopes = write_with_sdk(sys.executable, target, payload_values([2_000, 3_000]))
    with EmulatedServer("A", profile="references") as server:
        seed_histories(server, envelopes)
        eps = manifest(tmp_path, target, server.url)
        gone = object_key(target, envelopes[0])
        store = target.store()
        delete(store, gone)
        store.close()

        without_token = integrity("-f", str(eps), "--mode", "referenced", "--json")
        with_token = integrity("-f", str(eps), "--json", env=CLEAN_ENV | {"DW_TOKEN": server.token("admin")})

    assert without_token.returncode == 2
    assert json.loads(without_token.stdout) == {
        "outcome": "Failed",
        "error": "MissingServerToken: reading the server's histories needs its token",
    }
    assert "needs its token" in without_token.stderr
    assert with_token.returncode == 1
    report = json.loads(with_token.stdout)
    assert (report["mode"], report["missing"], report["bad"][0]["key"]) == ("Both", 1, gone)


def test_a_run_that_cannot_start_exits_2_and_says_why(tmp_path: Path, target: Target) -> None:
    eps = manifest(tmp_path, target)
    Path(target.bucket).rmdir()

    failed = integrity("-f", str(eps), "--mode", "inventory")

    assert failed.returncode == 2
    assert "integrity run failed: BucketNotFound" in failed.stderr
    assert integrity("-f", str(eps), "--shard", "3/2").returncode == 2  # argparse refuses the shard
