"""The run storm of the scale benchmark: every resource's retention asked for in the same minute.

Every resource carries a retention block (a tenth scheduled, the others suspended), so the run-now
annotation (`payloads.durable-workflow.io/run-now: retention`) set on all of them at once makes every
one of them due at its next tick. While the runs queue for the operator's in-process slots, one resource's
spec is changed: that reconcile must not wait for the storm. A sampler follows the operator's RSS and its
concurrency series on /metrics (any `payload_operator_*` series without a resource label whose name says
in-flight, slots, queue, workers, active or limit) throughout.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from devkit.cluster import Cluster
from devkit.operator_process import OperatorProcess
from devkit.waiting import wait_for

RUN_NOW = "payloads.durable-workflow.io/run-now"
GROUP_PATH = "/apis/payloads.durable-workflow.io/v1alpha1"
MERGE = "application/merge-patch+json"
CONCURRENCY = re.compile(r"^payload_operator_\w*(in_?flight|slot|queue|worker|active|limit|concurren|waiting)")
SAMPLE_SECONDS = 1.0


@dataclass
class StormReport:
    runs: int = 0
    annotate_seconds: float = 0.0
    seconds: float = 0.0  # from the first annotation until every run finished
    probe_seconds: float = 0.0  # a spec change made during the storm, until Ready for its generation
    probe_started_after: float = 0.0  # seconds into the storm the probe's change was made
    runs_active_at_probe: int = 0
    peak_rss_mib: float = 0.0  # the highest VmRSS sampled during the storm
    hwm_mib: float = 0.0  # VmHWM at the end: the process's peak over the whole benchmark
    cpu_seconds: float = 0.0
    results: dict[str, int] = field(default_factory=dict)
    concurrency: dict[str, float] = field(default_factory=dict)  # series{labels} -> highest value seen


def concurrency_samples(text: str) -> dict[str, float]:
    """The concurrency series in a /metrics text, as `name{labels}` -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if CONCURRENCY.match(sample.name) and "resource_name" not in sample.labels:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


class Sampler:
    """Polls the operator's RSS and concurrency series in a thread; keeps the highest of each."""

    def __init__(self, operator: OperatorProcess) -> None:
        self.operator = operator
        self.peak_rss_kib = 0
        self.concurrency: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scale-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> None:
        self.peak_rss_kib = max(self.peak_rss_kib, self.operator.rss_kib()[0])
        url = f"http://127.0.0.1:{self.operator.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return  # a busy operator may not answer within the poll; the next one counts
        for name, value in concurrency_samples(text).items():
            self.concurrency[name] = max(self.concurrency.get(name, value), value)


def retention_state(body: dict[str, Any]) -> tuple[str | None, bool]:
    """(lastRunTime, a run active) of the resource's retention."""
    block = (body.get("status") or {}).get("retention") or {}
    return block.get("lastRunTime"), bool(block.get("activeRun"))


def key(body: dict[str, Any]) -> str:
    return f"{body['metadata']['namespace']}/{body['metadata']['name']}"


@dataclass
class Storm:
    cluster: Cluster
    operator: OperatorProcess
    list_resources: Callable[[], list[dict[str, Any]]]
    ready: Callable[[dict[str, Any]], bool]
    timeout: float
    log: Callable[[str], None] = lambda _text: None

    def run(self) -> StormReport:
        """Ask every resource for a retention run at once, change one resource's spec meanwhile, wait for all."""
        report = StormReport()
        bodies = self.list_resources()
        before = {key(b): retention_state(b)[0] for b in bodies}
        report.runs = len(before)
        cpu = self.operator.cpu_seconds()
        started = time.monotonic()
        with Sampler(self.operator) as sampler:
            self.annotate_all(bodies)
            report.annotate_seconds = round(time.monotonic() - started, 1)
            self.log(f"storm: {len(bodies)} resources asked for retention in {report.annotate_seconds}s")
            report.runs_active_at_probe = self.wait_half_started(before)
            report.probe_started_after = round(time.monotonic() - started, 1)
            report.probe_seconds = self.probe(bodies[len(bodies) // 2])
            self.log(f"storm: the probe's spec change was Ready in {report.probe_seconds}s")
            report.results = self.wait_all_ran(before, started)
        report.seconds = round(time.monotonic() - started, 1)
        report.cpu_seconds = round(self.operator.cpu_seconds() - cpu, 1)
        report.peak_rss_mib = round(sampler.peak_rss_kib / 1024, 1)
        report.hwm_mib = round(self.operator.rss_kib()[1] / 1024, 1)
        report.concurrency = sampler.concurrency
        return report

    def wait_half_started(self, before: dict[str, str | None]) -> int:
        """Until half the runs started (run-now is honoured at each resource's next tick), so the probe meets
        the storm at its height; the runs active then."""

        def started() -> tuple[int] | None:  # a one-tuple: truthy however many are active
            states = [(key(b), retention_state(b)) for b in self.list_resources()]
            if sum(last != before.get(k) for k, (last, _active) in states) * 2 < len(before):
                return None
            return (sum(active for _k, (_last, active) in states),)

        found = wait_for(started, self.timeout, interval=2.0, message="half the storm's runs started")
        assert found is not None
        return found[0]

    def annotate_all(self, bodies: list[dict[str, Any]]) -> None:
        patch = {"metadata": {"annotations": {RUN_NOW: "retention"}}}

        def annotate(body: dict[str, Any]) -> None:
            self.cluster.api("PATCH", self.path(body), patch, content_type=MERGE)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(annotate, bodies))

    @staticmethod
    def path(body: dict[str, Any]) -> str:
        meta = body["metadata"]
        return f"{GROUP_PATH}/namespaces/{meta['namespace']}/externalpayloadstorages/{meta['name']}"

    def probe(self, body: dict[str, Any]) -> float:
        """Seconds from a spec change (thresholdBytes doubled) until the resource is Ready for it."""
        threshold = int(body["spec"].get("thresholdBytes", 4096)) * 2
        started = time.monotonic()
        self.cluster.api("PATCH", self.path(body), {"spec": {"thresholdBytes": threshold}}, content_type=MERGE)
        wait_for(
            lambda: self.ready(self.cluster.api("GET", self.path(body))),
            self.timeout,
            interval=0.5,
            message="the probe's spec change reconciled during the storm",
        )
        return round(time.monotonic() - started, 1)

    def wait_all_ran(self, before: dict[str, str | None], started: float) -> dict[str, int]:
        """Until every resource's retention ran again and finished; the results counted."""

        def finished() -> dict[str, int] | None:
            results: dict[str, int] = {}
            for body in self.list_resources():
                last, active = retention_state(body)
                if last != before.get(key(body)) and not active:
                    result = ((body["status"]["retention"].get("lastResult") or {}).get("result")) or "?"
                    results[result] = results.get(result, 0) + 1
            done = sum(results.values())
            self.log(f"  storm runs finished: {done}/{len(before)} after {time.monotonic() - started:.0f}s")
            return results if done >= len(before) else None

        results = wait_for(finished, self.timeout, interval=2.0, message="every storm run finished")
        assert results is not None  # wait_for returns only a truthy value
        return results
