"""Delete mode while the server keeps working: nothing a writer stores or references is ever deleted."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devkit.waiting import wait_for

from payload_operator.adapters.storage.base import ObjectStore
from payload_operator.tasks.retention import run as retention
from tests.retention.conftest import Payloads, ServerFactory, resource_of, run_retention


class Writer(threading.Thread):
    """Stores new payloads and starts runs referencing them (and older payloads) until stopped.

    One write per two requests the server answers: the writer keeps pace with whoever is reading the
    server, so it interleaves with the audit however fast or slow the machine is.
    """

    def __init__(self, payloads: Payloads, reused: list[Path]) -> None:
        super().__init__(daemon=True)
        self.payloads = payloads
        self.reused = reused
        self.stop = threading.Event()
        self.written: list[Path] = []
        self.error: BaseException | None = None

    def _paced(self) -> bool:
        """Wait until the server answered two more requests; False once stopped."""
        target = self.payloads.server.count() + 2
        while self.payloads.server.count() < target:
            if self.stop.wait(0.001):
                return False
        return True

    def run(self) -> None:
        server = self.payloads.server
        try:
            while not self.stop.is_set():
                number = len(self.written)
                envelope = server.store_payload("orders", self.payloads.blob("writer"))
                extra = self.reused[number % len(self.reused)]
                reuse = server.reference_envelope(extra.as_uri(), extra.read_bytes())
                server.add_workflow(
                    "orders",
                    f"writer-{number}",
                    input=envelope,
                    activity_results=[reuse],
                    status="running" if number % 2 else "completed",
                )
                self.written.append(self.payloads.path_of("orders", envelope))
                if not self._paced():
                    return
        except BaseException as exc:  # surfaced by the test
            self.error = exc


async def test_a_writer_storing_and_referencing_payloads_during_a_delete_audit_loses_nothing(
    emulator: ServerFactory,
) -> None:
    payloads = emulator(profile="references")
    for i in range(60):
        payloads.workflow("orders", f"old-{i}")
    for _ in range(20):
        payloads.orphan()
    writer = Writer(payloads, payloads.referenced[:10])
    writer.start()
    wait_for(lambda: writer.written, timeout=60, message="the writer never wrote")
    try:
        result, _, _ = await run_retention(resource_of(payloads.server, payloads.root, orphanAudit={"mode": "Delete"}))
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.error is None
    assert len(writer.written) > 20, "the writer did not run alongside the audit"
    assert all(path.exists() for path in writer.written)
    assert all(path.exists() for path in payloads.referenced)
    assert not any(path.exists() for path in payloads.orphans)
    assert result["orphans"]["deleted"] == 20


class HookedStore:
    """The real store, with a test callback at the first call of one method."""

    def __init__(self, inner: ObjectStore, method: str, hook: Callable[..., None]) -> None:
        self._inner = inner
        self._method = method
        self._hook: Callable[..., None] | None = hook

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method:
            return attribute

        def hooked(*args: Any) -> Any:
            if self._hook is not None:
                hook, self._hook = self._hook, None
                hook(*args)
            return attribute(*args)

        return hooked


def hook_store(monkeypatch: pytest.MonkeyPatch, method: str, hook: Callable[..., None]) -> None:
    real = retention.open_store
    monkeypatch.setattr(retention, "open_store", lambda *a, **k: HookedStore(real(*a, **k), method, hook))


async def test_an_orphan_referenced_again_after_the_mark_is_spared(
    emulator: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Content addressing: a new run can reuse an old unreferenced object; the confirming walk sees it."""
    payloads = emulator(profile="references")
    payloads.workflow("orders", "done")
    revived, *others = [payloads.orphan() for _ in range(4)]

    def reference_it_now(_prefix: str, *_: Any) -> None:
        envelope = payloads.server.reference_envelope(revived.as_uri(), revived.read_bytes())
        payloads.server.add_workflow("orders", "reuses-old-bytes", input=envelope, status="running")

    hook_store(monkeypatch, "list", reference_it_now)  # the sweep starts after the mark finished
    result, _, _ = await run_retention(resource_of(payloads.server, payloads.root, orphanAudit={"mode": "Delete"}))
    assert revived.exists()
    assert not any(path.exists() for path in others)
    assert (result["orphans"]["candidates"], result["orphans"]["spared"], result["orphans"]["deleted"]) == (4, 1, 3)


async def test_an_orphan_rewritten_after_it_was_listed_is_spared(
    emulator: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads = emulator(profile="references")
    orphans = [payloads.orphan() for _ in range(3)]

    def rewrite(key: str) -> None:
        os.utime(payloads.root / key)  # written again just now, as a server does for a re-upload

    hook_store(monkeypatch, "stat", rewrite)
    result, _, _ = await run_retention(resource_of(payloads.server, payloads.root, orphanAudit={"mode": "Delete"}))
    assert sum(path.exists() for path in orphans) == 1
    assert (result["orphans"]["spared"], result["orphans"]["deleted"]) == (1, 2)
