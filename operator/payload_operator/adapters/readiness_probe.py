"""The operator pod's readiness probe on /readyz: whether it reaches the Kubernetes API with its own credentials.

Kopf's liveness endpoint answers while the event loop runs, also when every API call fails (no DNS, a
network policy, an expired token), so it cannot say "ready". Restarting would not cure an API outage
either, so liveness stays Kopf's and this separate endpoint tells the truth about the API. One cheap
authenticated call (our API group's discovery document) every `max_age / CHECKS_PER_MAX_AGE` seconds
keeps the answer fresh; a probe only reads the last result, so it never waits on the API server and a
burst of probes makes no extra call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from dataclasses import dataclass

import aiohttp.web

from payload_operator.adapters.kube import KubeClient, KubeError
from payload_operator.api.spec import API_GROUP, API_VERSION

CHECK_PATH = f"/apis/{API_GROUP}/{API_VERSION}"
"""Needs a valid token and a working API server (any authenticated client may read discovery)."""
CHECKS_PER_MAX_AGE = 3
"""Checks per `max_age`: one failed check (a blip) never makes the operator not ready on its own."""


@dataclass
class ApiContact:
    """When the API server last answered a check, and why the latest check failed."""

    max_age: float
    """Seconds without a successful contact after which the operator is not ready."""
    last_success: float | None = None
    """time.monotonic() of the last successful check."""
    last_error: str = ""

    def ready(self, now: float) -> bool:
        return self.last_success is not None and now - self.last_success <= self.max_age

    def report(self, now: float) -> dict[str, object]:
        """The body of /readyz (status, timings and the failed call's status or error type; never data)."""
        age = None if self.last_success is None else round(now - self.last_success, 1)
        return {"ready": self.ready(now), "secondsSinceApiContact": age, "maxAge": self.max_age} | (
            {"lastError": self.last_error} if self.last_error else {}
        )


async def check_api(kube: KubeClient, contact: ApiContact) -> None:
    """One check, bounded by the check interval so that checks never pile up."""
    try:
        await asyncio.wait_for(kube.call("GET", CHECK_PATH), timeout=contact.max_age / CHECKS_PER_MAX_AGE)
    except KubeError as exc:
        contact.last_error = str(exc)
    except TimeoutError:
        contact.last_error = f"GET {CHECK_PATH}: no answer in time"
    else:
        contact.last_success, contact.last_error = time.monotonic(), ""


async def keep_checking(kube: KubeClient, contact: ApiContact) -> None:
    """Check the API at a steady pace until cancelled."""
    interval = contact.max_age / CHECKS_PER_MAX_AGE
    while True:
        started = time.monotonic()
        await check_api(kube, contact)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


class ReadinessProbe:
    """The /readyz endpoint and the checks behind it, started and stopped with the operator."""

    def __init__(self, contact: ApiContact, runner: aiohttp.web.AppRunner, checks: asyncio.Task[None]) -> None:
        self.contact = contact
        self._runner = runner
        self._checks = checks

    @classmethod
    async def start(cls, endpoint: str, kube: KubeClient, max_age: float) -> ReadinessProbe:
        """Serve `endpoint` (http://host:port/path) and start checking the API."""
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme != "http" or not parts.port:
            raise ValueError(f"readiness endpoint must be http://host:port/path, not {endpoint!r}")
        contact = ApiContact(max_age)

        async def answer(_: aiohttp.web.Request) -> aiohttp.web.Response:
            now = time.monotonic()
            return aiohttp.web.json_response(contact.report(now), status=200 if contact.ready(now) else 503)

        app = aiohttp.web.Application()
        app.add_routes([aiohttp.web.get(parts.path or "/", answer)])
        runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await aiohttp.web.TCPSite(runner, parts.hostname or "0.0.0.0", parts.port).start()
        return cls(contact, runner, asyncio.create_task(keep_checking(kube, contact), name="readiness checks"))

    async def stop(self) -> None:
        self._checks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._checks
        await self._runner.cleanup()
