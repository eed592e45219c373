"""scripts/kind-e2e.sh skips visibly without Docker, and refuses to half-run without kind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kind-e2e.sh"


def _stub(tmp_path: Path, name: str, code: int) -> Path:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\nexit {code}\n")
    path.chmod(0o755)
    return path


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)], env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def test_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, timeout=30)


def test_without_a_docker_daemon_it_skips_visibly_and_succeeds(tmp_path: Path) -> None:
    proc = _run(DOCKER=str(_stub(tmp_path, "docker", 1)))
    assert proc.returncode == 0
    assert "SKIP" in proc.stderr
    assert "Docker daemon" in proc.stderr


def test_with_docker_but_without_kind_it_fails(tmp_path: Path) -> None:
    proc = _run(DOCKER=str(_stub(tmp_path, "docker", 0)), KIND=str(tmp_path / "no-kind"))
    assert proc.returncode == 1
    assert "kind" in proc.stderr
