"""The README's first command works, touches no cluster it was not asked to, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from devkit.cluster import ApiError, Cluster
from devkit.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, str(REPO / "scripts" / "demo.py")]


def _env_without_kubeconfig() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}  # the demo starts its own control plane


def test_demo_prints_a_ready_resource() -> None:
    result = subprocess.run(
        [*DEMO, "--once"],
        cwd=REPO,
        env=_env_without_kubeconfig(),
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
    assert "stopping the operator" in result.stdout
    assert "killing it" not in result.stdout, "the operator had to be killed on --once"


def test_demo_refuses_the_cluster_of_kubeconfig_unless_asked(kube_cluster: Cluster) -> None:
    env = _env_without_kubeconfig() | {"KUBECONFIG": str(kube_cluster.kubeconfig)}
    result = subprocess.run(
        [*DEMO, "--once"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert "KUBECONFIG is set" in result.stderr
    assert "--use-kubeconfig" in result.stderr, "the refusal says how to opt in"
    with pytest.raises(ApiError) as missing:  # the refused demo created nothing in the other cluster
        kube_cluster.api("GET", "/api/v1/namespaces/payloads-demo")
    assert missing.value.status == 404


def test_ctrl_c_stops_the_demo_and_its_operator_gracefully_and_leaves_no_process(tmp_path: Path) -> None:
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        demo = subprocess.Popen(
            DEMO, cwd=REPO, env=_env_without_kubeconfig(), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(lambda: "Ctrl-C stops everything." in out.read_text(), 300, interval=0.5, message="demo up")
        _kubectl_eps_works_against_the_demo(out.read_text())
        started = psutil.Process(demo.pid).children(recursive=True)
        started += [p for p in psutil.process_iter() if _same_session(p, demo.pid)]
        operator_log = REPO / ".work" / "demo" / "operator.log"

        os.kill(demo.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
        assert demo.wait(timeout=120) == 0, out.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()

    text = out.read_text()
    assert "stopping the operator" in text, "it says what it stops"
    assert "local control plane" in text, "it says what it stops"
    assert "killing it" not in text, text
    assert "Operator is stopping" in operator_log.read_text(), "the operator's own shutdown lines"
    left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"processes left behind: {[p.cmdline() for p in left]}"


def _kubectl_eps_works_against_the_demo(printed: str) -> None:
    """What the README shows: the plugin against the running demo, with the KUBECONFIG it printed."""
    lines = printed.splitlines()
    kubeconfig = next(line.split("=", 1)[1] for line in lines if line.startswith("export KUBECONFIG="))
    kubectl = next(line.split()[0] for line in lines if line.endswith("# for example"))
    plugin_dir = Path(sys.executable).parent  # where kubectl-eps is installed
    env = os.environ | {"KUBECONFIG": kubeconfig, "KUBECTL": kubectl, "PATH": f"{plugin_dir}:{os.environ['PATH']}"}

    def eps(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [kubectl, "eps", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)

    verify = eps("verify", "demo", "-n", "payloads-demo")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Succeeded" in verify.stdout, verify.stdout
    status = eps("status", "-A", "-o", "json")
    assert status.returncode == 0, status.stderr
    assert '"demo"' in status.stdout
    runs = eps("runs", "demo", "-n", "payloads-demo")
    assert runs.returncode == 0, runs.stderr
    assert "integrity" in runs.stdout, runs.stdout


def _same_session(process: psutil.Process, session_leader: int) -> bool:
    try:
        return os.getsid(process.pid) == session_leader and process.pid != session_leader
    except (ProcessLookupError, PermissionError):
        return False
