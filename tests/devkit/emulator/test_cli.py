"""``python -m devkit.dw_emulator`` serves until it is terminated."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[3]


def test_cli_serves_configured_namespaces_and_tokens(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "devkit.dw_emulator",
        "--port",
        "0",
        "--generation",
        "B",
        "--admin-token",
        "A1",
        "--operator-token",
        "O1",
        "--worker-token",
        "W1",
        "--namespace",
        "orders",
        "--namespace",
        "billing",
        "--local-root",
        str(tmp_path / "root"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server announces itself
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        url = match.group(1)
        headers = {"Authorization": "Bearer A1", "X-Durable-Workflow-Control-Plane-Version": "2"}
        names = [ns["name"] for ns in httpx.get(f"{url}/api/namespaces", headers=headers).json()["namespaces"]]
        assert names == ["default", "orders", "billing"]
        info = httpx.get(f"{url}/api/cluster/info", headers={"Authorization": "Bearer W1"}).json()
        assert info["worker_protocol"]["server_capabilities"]["runtime_external_payload_transport"] is True
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
