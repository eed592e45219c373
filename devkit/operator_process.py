"""The operator as a real process (`python -m payload_operator run -A --standalone`), so drills can kill it.

Configured only through KUBECONFIG and PAYLOAD_OPERATOR_* variables, like a pod. `kill()` sends SIGKILL
to the whole process group (what the kubelet does when a pod is killed or OOM-killed), `start()`
after it is the pod's restart; the log file keeps every incarnation's output for the secret scans.
The chart tests start it with the command line and environment of the rendered Deployment instead
(`command` and `underlay`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devkit.procs import ManagedProcess, free_ports, http_responds, wait_until_ready
from devkit.settings import OPERATOR_ENV
from devkit.waiting import wait_for

FAST = OPERATOR_ENV  # injected intervals (the production code path, sooner) and the suite's tenant policy
START_TIMEOUT = 90.0
Command = Callable[[str, str], list[str]]
"""The operator's command line, given its local liveness and readiness URLs."""


def standalone_command(liveness: str, readiness: str) -> list[str]:
    """`payload-operator run` on every namespace, without peering (the drills' default)."""
    argv = [sys.executable, "-m", "payload_operator", "run", "-A", "--standalone"]
    return [*argv, f"--liveness={liveness}", f"--readiness={readiness}"]


class OperatorProcess:
    """One operator deployment: start, kill -9, start again; logs appended to one file."""

    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        command: Command = standalone_command,
        underlay: Mapping[str, str] | None = None,
        name: str = "operator",
    ) -> None:
        """`env` overrides everything; `underlay` is what the test settings override (a chart's pod env)."""
        self.kubeconfig = kubeconfig
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.extra_env = dict(env or {})
        self.underlay = dict(underlay or {})
        self.command = command
        self.process: ManagedProcess | None = None
        self.starts = 0
        self.metrics_port = 0
        self.liveness_port = 0
        self.readiness_port = 0

    def environment(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOAD_OPERATOR_") and k != "KUBECONFIG"}
        return (
            base
            | self.underlay
            | FAST
            | {
                "KUBECONFIG": str(self.kubeconfig),
                "PAYLOAD_OPERATOR_METRICS_PORT": str(self.metrics_port),
                "PYTHONUNBUFFERED": "1",
            }
            | self.extra_env
        )

    def start(self) -> None:
        """Start (or restart) the operator and wait until its liveness endpoint answers."""
        assert self.process is None or not self.process.alive(), "already running"
        self.metrics_port, self.liveness_port, self.readiness_port = free_ports(3)
        liveness = f"http://127.0.0.1:{self.liveness_port}/healthz"
        readiness = f"http://127.0.0.1:{self.readiness_port}/readyz"
        argv = self.command(liveness, readiness)
        self.starts += 1
        with self.log_path.open("a") as log:
            # one JSON object like the operator's own lines, so a --log-format=json check reads the file whole
            log.write(json.dumps({"devkit": f"{self.name} start #{self.starts}"}) + "\n")
        self.process = ManagedProcess(f"{self.name}-{self.starts}", argv, self.log_path, env=self.environment())
        try:
            wait_until_ready(
                lambda: http_responds(liveness), timeout=START_TIMEOUT, what="operator", procs=[self.process]
            )
        except BaseException:
            self.process.stop()
            raise

    def kill(self) -> None:
        """SIGKILL the operator's process group: no cleanup handler, no finalizer, no last status write."""
        process = self.process
        assert process is not None, "never started"
        assert process.alive(), "not running"
        os.killpg(process.pid, signal.SIGKILL)
        process.popen.wait(30)
        process.stop()  # closes the log handle; the group is already gone

    def stop(self) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after a grace period)."""
        if self.process is not None:
            self.process.stop(grace=10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def healthy(self) -> bool:
        """The process runs and Kopf's liveness endpoint answers 200."""
        if not self.alive():
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=5) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def readiness(self) -> int | None:
        """The HTTP status /readyz answers (200 ready, 503 not ready); None when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.readiness_port}/readyz", timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return None

    def assert_up(self) -> None:
        """The operator neither crashed nor stopped answering its liveness probe."""
        assert self.alive(), f"the operator exited:\n{self.log[-4000:]}"
        wait_for(self.healthy, 60, message="operator liveness probe")

    def samples(self, series: str, /, **labels: str) -> list[float]:
        """Values of the exposed samples called `series` whose labels include `labels`."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return [
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == series and labels.items() <= sample.labels.items()
        ]

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cpu_seconds(self) -> float:
        """User plus system CPU time the operator process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> tuple[int, int]:
        """(current, peak) resident set size of the operator process, KiB (VmRSS, VmHWM)."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values["VmRSS"], values["VmHWM"]
