"""`kubectl eps verify NAME`: ask the operator for an integrity run now, and follow it in status to its end.

The request is the annotation the scheduler honours (scheduler/on_demand.py). The run is recognised as the
first one, after the request is answered, whose id was not in status before: a run already in progress
finishes first and the requested one follows it. Progress comes from status (the run's start and end) and,
where the user may read Jobs, from the run's Jobs (shards done); nothing else is needed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from payload_operator.cli.kubectl_eps import views
from payload_operator.cli.kubectl_eps.kubectl import Kubectl, KubectlError
from payload_operator.scheduler.on_demand import RUN_NOW_ANNOTATION

KIND = "integrity"
POLL_SECONDS = 1.0
LOG_EVERY_SECONDS = 10.0


class VerifyError(Exception):
    """The run could not be requested or followed."""


@dataclass
class Progress:
    """Writes what changed: a bar redrawn in place on a terminal, else a line per change and every 10 s."""

    out: TextIO
    terminal: bool
    _printed: tuple[str, float] = ("", -LOG_EVERY_SECONDS)
    _drawn: bool = False

    def say(self, line: str) -> None:
        """A phase change, always on its own line."""
        if self._drawn:
            print("\r\033[K", end="", file=self.out, flush=True)
            self._drawn = False
        print(line, file=self.out, flush=True)

    def bar(self, run_id: str, done: int | None, shards: int, elapsed: float) -> None:
        """Shards done of all (unknown for in-process runs or without Job access) and the time so far."""
        if done is None:  # a marker sweeping across: how far along is unknown
            state, sweep = "running", int(elapsed) % 20
            drawing = " " * sweep + "=" + " " * (19 - sweep)
        else:
            state, filled = f"{done}/{shards} shards done", 20 * done // max(shards, 1)
            drawing = "#" * filled + "." * (20 - filled)
        line = f"run {run_id}: {state}, {elapsed:.0f}s"
        if self.terminal:
            print(f"\r[{drawing}] {line}\033[K", end="", file=self.out, flush=True)
            self._drawn = True
        elif state != self._printed[0] or elapsed - self._printed[1] >= LOG_EVERY_SECONDS:
            print(line, file=self.out, flush=True)
            self._printed = (state, elapsed)


def shards_done(kubectl: Kubectl, active: dict[str, Any]) -> int | None:
    """Finished shards of a Job run, or None when unknown (in-process, or Jobs not readable)."""
    if not active["jobNames"]:
        return None
    try:
        jobs = kubectl.jobs(active["jobNames"])
    except KubectlError:
        return None
    status = [job.get("status") or {} for job in jobs]
    return sum(1 for s in status if s.get("succeeded") or (s.get("failed") and not s.get("active")))


def runner_type(body: dict[str, Any]) -> str:
    """Where the resource's runs execute (the spec's default when unset)."""
    runner = ((body.get("spec") or {}).get("runner") or {}).get("type")
    return str(runner or "Job")


def request(kubectl: Kubectl, body: dict[str, Any]) -> set[str]:
    """Set the annotation (keeping any other kind it asks for); the run ids status knew before."""
    name = views.identity(body)["name"]
    if not (body.get("spec") or {}).get(KIND):
        raise VerifyError(f"{name} has no spec.integrity: there is no integrity run to start")
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    asked = {kind for kind in str(annotations.get(RUN_NOW_ANNOTATION) or "").split(",") if kind}
    kubectl.annotate(name, RUN_NOW_ANNOTATION, ",".join(sorted(asked | {KIND})))
    known = {str(run.get("runId")) for run in [views.last_result(body, KIND)] if run.get("runId")}
    active = views.active_run(body, KIND)
    return known | ({active["id"]} if active else set())


def follow(
    kubectl: Kubectl,
    name: str,
    known: set[str],
    progress: Progress,
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll until the requested run's result is in status; the resource as it then is."""
    begun = clock()
    ours: str | None = None
    while clock() - begun < timeout:
        body = kubectl.resource(name)
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        answered = KIND not in str(annotations.get(RUN_NOW_ANNOTATION) or "").split(",")
        active = views.active_run(body, KIND)
        finished = views.last_result(body, KIND)
        if ours is None and answered:
            if active is not None and active["id"] not in known:
                ours = active["id"]
                progress.say(f"run {ours} started ({active['runner']}, {active['shards']} shard(s))")
            elif finished.get("runId") and finished["runId"] not in known:
                ours = str(finished["runId"])  # it ran between two looks: say it started all the same
                progress.say(f"run {ours} started ({runner_type(body)}, {finished.get('shards', 1)} shard(s))")
        elif ours is None and active is not None and active["id"] not in known:
            progress.say(f"waiting for run {active['id']}, in progress, to finish first")
            known.add(active["id"])
        if ours is not None and finished.get("runId") == ours:
            return body
        if ours is not None and active is not None and active["id"] == ours:
            progress.bar(ours, shards_done(kubectl, active), active["shards"], clock() - begun)
        time.sleep(POLL_SECONDS)
    raise VerifyError(
        f"no result within {timeout:.0f}s; the run goes on: `kubectl eps runs {name}` shows it when it ends"
    )


def verify(kubectl: Kubectl, name: str, *, timeout: float, out: TextIO = sys.stderr) -> dict[str, Any]:
    """Request an integrity run of `name`, follow it, and return the resource with its result."""
    body = kubectl.resource(name)
    known = request(kubectl, body)
    progress = Progress(out, terminal=out.isatty())
    progress.say(f"requested an integrity run of {views.identity(body)['namespace']}/{name}")
    body = follow(kubectl, name, known, progress, timeout=timeout)
    result = views.last_result(body, KIND)
    progress.say(
        f"run {result.get('runId')} finished after {result.get('durationSeconds', '?')}s: {result.get('result')}"
    )
    return body
