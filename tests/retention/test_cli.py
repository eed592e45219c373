"""`payload-operator retention -f`: the report a person or a script gets, and the exit codes."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.retention.conftest import ADMIN, Payloads, ServerFactory, manifest

EXE = [sys.executable, "-m", "payload_operator"]


def write_manifest(tmp_path: Path, payloads: Payloads, **retention: Any) -> Path:
    path = tmp_path / "eps.yaml"
    path.write_text(yaml.safe_dump(manifest(payloads.server, payloads.root, **retention)))
    return path


def retention(path: Path, *args: str, token: str | None = ADMIN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DW_TOKEN"} | ({"DW_TOKEN": token} if token else {})
    return subprocess.run(
        [*EXE, "retention", "-f", str(path), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def seeded(emulator: ServerFactory, **options: Any) -> Payloads:
    payloads = emulator(**options)
    payloads.workflow("orders", "done")
    payloads.orphan()
    payloads.orphan()
    return payloads


def test_json_report_carries_server_passes_and_orphan_counts(emulator: ServerFactory, tmp_path: Path) -> None:
    payloads = seeded(emulator, profile="references")
    done = retention(write_manifest(tmp_path, payloads, orphanAudit={"mode": "Delete"}), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["outcome"] == "Succeeded"
    assert report["serverPasses"]["status"] == "ok"
    orphans = report["orphans"]
    assert {k: orphans[k] for k in ("referenced", "young", "candidates", "deleted")} == {
        "referenced": 1,
        "young": 0,
        "candidates": 2,
        "deleted": 2,
    }
    assert orphans["candidateBytes"] == 2 * len(payloads.blob("orphan"))
    deleted_lines = [line for line in done.stderr.splitlines() if "deleted orphan payload object avro/" in line]
    assert len(deleted_lines) == 2
    assert "\r" not in done.stderr  # no progress line when stderr is not a terminal


def test_dry_run_prints_a_readable_report_and_deletes_nothing(emulator: ServerFactory, tmp_path: Path) -> None:
    payloads = seeded(emulator, profile="references")
    before = payloads.existing()
    done = retention(write_manifest(tmp_path, payloads, orphanAudit={"mode": "Delete"}), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("retention (shard 0/1, dry run): Succeeded\n")
    assert "orphan audit [ok]" in done.stdout
    assert "candidates 2" in done.stdout
    assert payloads.existing() == before


def test_exit_code_1_when_the_audit_had_to_be_skipped(emulator: ServerFactory, tmp_path: Path) -> None:
    payloads = seeded(emulator)  # the captured Gen A server inlines payloads
    done = retention(write_manifest(tmp_path, payloads), "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["orphans"]["reason"].startswith("references not observable")


def test_exit_code_2_when_the_run_fails(emulator: ServerFactory, tmp_path: Path) -> None:
    payloads = seeded(emulator, profile="references")
    path = write_manifest(tmp_path, payloads)
    no_token = retention(path, token=None)
    assert no_token.returncode == 2
    assert "DW_TOKEN" in no_token.stdout
    payloads.server.faults.down = True
    down = retention(path, "--json")
    assert down.returncode == 2
    assert json.loads(down.stdout)["outcome"] == "Failed"


def test_the_job_form_needs_the_resource_and_run_id(tmp_path: Path) -> None:
    done = subprocess.run(
        [*EXE, "retention", "-f", str(tmp_path / "eps.yaml"), "--report", "configmap"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--report configmap needs --resource and --run-id" in done.stderr


def test_progress_is_shown_on_a_terminal(emulator: ServerFactory, tmp_path: Path) -> None:
    payloads = seeded(emulator, profile="references")
    path = write_manifest(tmp_path, payloads)
    controller, terminal = pty.openpty()
    env = os.environ | {"DW_TOKEN": ADMIN}
    process = subprocess.Popen(
        [*EXE, "retention", "-f", str(path)], stdout=subprocess.PIPE, stderr=terminal, env=env, text=True
    )
    os.close(terminal)
    stdout, _ = process.communicate(timeout=120)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert process.returncode == 0
    assert b"\rsweeping: " in seen
    assert stdout.startswith("retention (shard 0/1): Succeeded")
