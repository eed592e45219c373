"""Small process and network helpers shared by the cluster and storage-service launchers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


class ServiceStartError(RuntimeError):
    """A test service failed to start (the message carries the end of its log)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's ephemeral allocator picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all sockets held open together so the kernel cannot repeat one)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def make_workdir(prefix: str, *, prefer_memory: bool = False) -> Path:
    """A fresh temp dir. ``prefer_memory`` puts it on /dev/shm (fast fsync for etcd) when that is usable.

    PAYLOAD_OPERATOR_TEST_TMP overrides the parent directory.
    """
    parent = os.environ.get("PAYLOAD_OPERATOR_TEST_TMP")
    if parent is None and prefer_memory and os.access("/dev/shm", os.W_OK):
        with contextlib.suppress(OSError):
            if shutil.disk_usage("/dev/shm").free > 1 << 30:
                parent = "/dev/shm"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def remove_workdir(path: Path) -> None:
    """Delete a service's temp dir, unless PAYLOAD_OPERATOR_KEEP_TMP=1 (then its logs stay for debugging)."""
    if os.environ.get("PAYLOAD_OPERATOR_KEEP_TMP", "") not in ("", "0"):
        sys.stderr.write(f"[tests] keeping {path} (PAYLOAD_OPERATOR_KEEP_TMP)\n")
        return
    shutil.rmtree(path, ignore_errors=True)


def venv_bin(name: str) -> str:
    """An executable installed next to the running interpreter (the project venv), else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServiceStartError(f"{name!r} not found next to {sys.executable} nor on PATH (run `make bootstrap`)")
    return found


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """A long-running child in its own process group, output to a log file.

    When started from the main thread it also gets a parent-death signal (via ``setpriv --pdeathsig``),
    so a SIGKILLed pytest does not leave servers behind.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.argv = list(argv)
        full_argv = list(argv)
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            full_argv = [setpriv, "--pdeathsig", "TERM", "--", *full_argv]
        self._log = log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                full_argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise ServiceStartError(
                f"{self.name} exited with code {self.popen.returncode}; log {self.log_path}:\n{tail(self.log_path)}"
            )

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL it after ``grace`` seconds."""
        try:
            if self.popen.poll() is None:
                _signal_group(self.popen.pid, signal.SIGTERM)
                try:
                    self.popen.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    _signal_group(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(timeout=grace)
            # stragglers in the group (children that outlived the leader)
            _signal_group(self.popen.pid, signal.SIGKILL)
        finally:
            self._log.close()


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """SIGTERM and SIGINT set the event instead of ending the process, so `with` blocks still clean up.

    For the foreground `up` commands: ``with stop_signals() as stop: ...start...; stop.wait()``.
    """
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _signum, _frame: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_until_ready(
    check: object,
    *,
    timeout: float,
    what: str,
    procs: Sequence[ManagedProcess] = (),
    interval: float = 0.05,
) -> float:
    """Poll ``check()`` (truthy = ready; OSError/HTTP errors = not yet) until ``timeout``.

    Fails fast if any of ``procs`` dies. Returns the seconds waited.
    """
    assert callable(check)
    start = time.monotonic()
    deadline = start + timeout
    last_exc: BaseException | None = None
    while True:
        for p in procs:
            p.check_alive()
        try:
            if check():
                return time.monotonic() - start
            last_exc = None
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            logs = "\n".join(f"--- {p.name} ({p.log_path}):\n{tail(p.log_path)}" for p in procs)
            raise ServiceStartError(f"{what} not ready after {timeout:.0f}s (last error: {last_exc!r})\n{logs}")
        time.sleep(interval)


def http_responds(url: str, timeout: float = 2.0, context: ssl.SSLContext | None = None) -> bool:
    """True if anything answers HTTP at ``url`` (any status code counts); `context` for HTTPS."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            resp.read()
    except urllib.error.HTTPError:
        return True
    return True
