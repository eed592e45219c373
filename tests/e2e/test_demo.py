"""The README's first command works: the embedded demo brings everything up and prints `kubectl get eps`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_prints_a_ready_resource() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}  # the demo starts its own control plane
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--once"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = [line.split() for line in result.stdout.splitlines() if line.startswith("payloads-demo")]
    assert table, result.stdout
    row = table[0]
    assert row[1] == "demo"
    assert row[2] == "local"
    assert "True" in row
    assert "Ready" in row
