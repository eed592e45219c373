"""The scale drill's machinery, shared by `tests/drills/test_scale.py` (40 resources) and `benchmarks/scale.py`.

Many resources are applied at once, each with its own Durable Workflow namespace (on one server
emulator) and its own bucket (`devkit/scale_fleet.py`: S3 on moto for the test; local, S3, GCS and Azure
for the benchmark), every provider behind a counting fault proxy. The drill measures how long until every
resource is Ready and how many server and storage requests that took, then watches a quiet window: with
nothing changed, every timer tick and every resync must make no write at all, to the API server
(resourceVersions and Events), the storage servers, the local payload directories or the Durable Workflow
server. The window ends once every resource has resynced a given number of times (counted at the
server), so it is measured, not slept. The benchmark then starts a run storm (`devkit/scale_storm.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from devkit import scale_fleet
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.faultproxy import FaultProxy
from devkit.operator_process import OperatorProcess
from devkit.scale_fleet import Backends
from devkit.services import S3Endpoint
from devkit.waiting import wait_for

GROUP_PATH = "/apis/payloads.durable-workflow.io/v1alpha1"
DEFAULT_TIMER = 30.0  # PAYLOAD_OPERATOR_TIMER_INTERVAL default
DEFAULT_RESYNC = 300.0  # spec.server.resyncIntervalSeconds default
WATCHED = {  # what the quiet window watches in every namespace (Secrets included: the published env Secret)
    "resources": GROUP_PATH + "/namespaces/{ns}/externalpayloadstorages",
    "configmaps": "/api/v1/namespaces/{ns}/configmaps",
    "secrets": "/api/v1/namespaces/{ns}/secrets",
    "events": "/api/v1/namespaces/{ns}/events",
    "jobs": "/apis/batch/v1/namespaces/{ns}/jobs",
}
RUN_KINDS = ("retention", "integrity")


@dataclass(frozen=True)
class ScalePlan:
    resources: int = 40
    namespaces: int = 4
    timer: float = 1.0  # PAYLOAD_OPERATOR_TIMER_INTERVAL of the operator under test
    resync: int = 10  # spec.server.resyncIntervalSeconds of every resource
    resyncs: int = 6  # the quiet window ends when every resource has resynced this often
    settle_timeout: float = 300.0
    runs_every: int = 10  # every n-th resource also has daily retention and weekly integrity runs (in-process)
    # Before the window: resyncs of every resource to wait for (at the 300 s default one costs five minutes),
    # or, with 0, only `grace` seconds; the window then includes each resource's first resync after settling.
    settle_resyncs: int = 1
    grace: float = 0.0
    storm: bool = False  # every other resource carries a suspended retention block for the run storm

    @property
    def env(self) -> dict[str, str]:
        return {"PAYLOAD_OPERATOR_TIMER_INTERVAL": f"{self.timer:g}"}


@dataclass
class ScaleReport:
    resources: int
    namespaces: int
    settle_seconds: float = 0.0
    apply_seconds: float = 0.0  # how long `kubectl apply` itself took (its requests compete with the operator's)
    runs_settle_seconds: float = 0.0
    server_requests_to_settle: int = 0
    storage_requests_to_settle: int = 0
    quiet_seconds: float = 0.0
    seconds_per_resync: float = 0.0
    ticks_per_resource: float = 0.0
    resyncs_per_resource: int = 0
    equivalent_hours_of_ticks: float = 0.0
    equivalent_hours_of_resyncs: float = 0.0
    api_objects_changed: list[str] = field(default_factory=list)
    status_fields_changed: list[str] = field(default_factory=list)
    server_writes: list[str] = field(default_factory=list)
    storage_writes: list[str] = field(default_factory=list)
    local_files_changed: list[str] = field(default_factory=list)
    server_reads_per_resync: float = 0.0
    storage_reads_per_resync: float = 0.0
    storage_reads_per_resync_by_driver: dict[str, float] = field(default_factory=dict)
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    peak_rss_settle_mib: float = 0.0
    cpu_seconds_to_settle: float = 0.0
    cpu_seconds_quiet: float = 0.0
    drivers: dict[str, int] = field(default_factory=dict)

    @property
    def cpu_ms_per_resource_tick(self) -> float:
        """Operator CPU per timer tick of one resource in the quiet window (resyncs included)."""
        return 1000 * self.cpu_seconds_quiet / max(self.ticks_per_resource * self.resources, 1)

    @property
    def server_requests_per_resource(self) -> float:
        return self.server_requests_to_settle / self.resources

    @property
    def storage_requests_per_resource(self) -> float:
        return self.storage_requests_to_settle / self.resources

    @property
    def cpu_utilization_quiet(self) -> float:
        """Share of one core the operator used in the quiet window."""
        return self.cpu_seconds_quiet / max(self.quiet_seconds, 0.001)

    @property
    def writes_at_rest(self) -> int:
        """Every write the quiet window saw, anywhere."""
        changed = self.api_objects_changed + self.server_writes + self.storage_writes + self.local_files_changed
        return len(changed)

    def as_json(self) -> str:
        data = asdict(self) | {
            "server_requests_per_resource": round(self.server_requests_per_resource, 1),
            "storage_requests_per_resource": round(self.storage_requests_per_resource, 1),
            "cpu_ms_per_resource_tick": round(self.cpu_ms_per_resource_tick, 2),
            "cpu_utilization_quiet": round(self.cpu_utilization_quiet, 3),
        }
        return json.dumps(data, indent=2)


def dw_namespace(index: int) -> str:
    return f"scale-{index:04d}"


def build(
    make_namespace: Callable[[str], str], server: EmulatedServer, backends: Backends, plan: ScalePlan
) -> tuple[list[str], list[dict[str, Any]]]:
    """Namespaces, buckets and server namespaces; returns (namespaces, manifests) ready to apply."""
    namespaces = [make_namespace(f"scale-{n}") for n in range(plan.namespaces)]
    manifests = [secret for name in namespaces for secret in scale_fleet.secrets(name, backends)]
    suffix = namespaces[0][-6:]
    for index in range(plan.resources):
        storage = scale_fleet.storage_block(scale_fleet.driver_of(index, backends.drivers), index, suffix, backends)
        server.add_namespace(dw_namespace(index))
        runs = scale_fleet.runs_block(index % plan.runs_every == 0, plan.storm)
        namespace = namespaces[index % plan.namespaces]
        manifests.append(
            scale_fleet.manifest(
                namespace, index, storage, runs, url=server.url, dw_namespace=dw_namespace(index), resync=plan.resync
            )
        )
    return namespaces, manifests


def resources(cluster: Cluster) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.api("GET", f"{GROUP_PATH}/externalpayloadstorages")["items"]
    return items


def run_done(body: dict[str, Any]) -> bool:
    """Every scheduled kind's first run finished (True for resources without runs; a suspended kind waits
    for nothing)."""
    status = body.get("status") or {}
    return all(
        bool((status.get(kind) or {}).get("lastResult"))
        for kind in RUN_KINDS
        if kind in body["spec"] and not body["spec"][kind].get("suspend")
    )


def ready(body: dict[str, Any]) -> bool:
    """Ready for the current generation."""
    status = body.get("status") or {}
    for item in status.get("conditions") or []:
        if item.get("type") == "Ready":
            return bool(
                item.get("status") == "True" and item.get("observedGeneration") == body["metadata"]["generation"]
            )
    return False


def snapshot(cluster: Cluster, namespaces: list[str]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """(kind/namespace/name -> resourceVersion, resource -> status); Events by name too, so a new or
    bumped Event shows."""
    versions: dict[str, str] = {}
    statuses: dict[str, dict[str, Any]] = {}
    for namespace in namespaces:
        for kind, template in WATCHED.items():
            for item in cluster.api("GET", template.format(ns=namespace))["items"]:
                meta = item["metadata"]
                versions[f"{kind}/{namespace}/{meta['name']}"] = meta["resourceVersion"]
                if kind == "resources":
                    statuses[f"{namespace}/{meta['name']}"] = item.get("status") or {}
    return versions, statuses


def changed_fields(before: Any, after: Any, path: str = "status") -> list[str]:
    """Dotted paths whose values differ (lists of conditions keyed by type)."""
    if isinstance(before, list) and isinstance(after, list) and all(isinstance(i, dict) for i in before + after):
        key = "type" if all("type" in i for i in before + after) else "name"
        before = {str(i.get(key)): i for i in before}
        after = {str(i.get(key)): i for i in after}
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            f
            for k in sorted(before.keys() | after.keys())
            for f in changed_fields(before.get(k), after.get(k), f"{path}.{k}")
        ]
    return [] if before == after else [path]


def resync_reads(server: EmulatedServer, count: int) -> list[int]:
    """GET /api/namespaces/<ns> per resource: one per policy pass (the read that finds drift)."""
    counts = [0] * count
    for record in server.requests.find(method="GET", path_prefix="/api/namespaces/scale-"):
        index = int(record.path.rsplit("-", 1)[1])
        if index < count:
            counts[index] += 1
    return counts


def reads_by_driver(requests: dict[str, int], resyncs: list[int], drivers: list[str]) -> dict[str, float]:
    """Storage requests per resync of each driver's resources (`resyncs` and `drivers` by resource index);
    a driver without a proxy (local) made none."""
    return {
        driver: round(
            requests.get(driver, 0) / max(sum(n for n, d in zip(resyncs, drivers, strict=True) if d == driver), 1), 2
        )
        for driver in dict.fromkeys(drivers)
    }


def run(
    cluster: Cluster,
    make_namespace: Callable[[str], str],
    server: EmulatedServer,
    proxy: FaultProxy,
    moto: S3Endpoint,
    operator: OperatorProcess,
    plan: ScalePlan,
    log: Callable[[str], None] = lambda _text: None,
) -> ScaleReport:
    """The S3-only drill of the test-suite: apply, wait until Ready, watch the quiet window."""
    fleet = Fleet(cluster, server, Backends(s3=(proxy, moto)), operator, plan, log)
    return fleet.settle_and_rest(make_namespace)


@dataclass
class Fleet:
    """One drill: the cluster, the server, the storage and the operator under test (already running)."""

    cluster: Cluster
    server: EmulatedServer
    backends: Backends
    operator: OperatorProcess
    plan: ScalePlan
    log: Callable[[str], None] = lambda _text: None
    namespaces: list[str] = field(default_factory=list)

    def settle_and_rest(self, make_namespace: Callable[[str], str]) -> ScaleReport:
        """Apply, wait until Ready and the first runs finished, then watch the quiet window."""
        report = ScaleReport(self.plan.resources, self.plan.namespaces)
        self.namespaces, manifests = build(make_namespace, self.server, self.backends, self.plan)
        drivers = [scale_fleet.driver_of(i, self.backends.drivers) for i in range(self.plan.resources)]
        report.drivers = {d: drivers.count(d) for d in self.backends.drivers}
        self.settle(manifests, report)
        self.before_window()
        self.quiet_window(report, drivers)
        rss, peak = self.operator.rss_kib()
        report.rss_mib, report.peak_rss_mib = round(rss / 1024, 1), round(peak / 1024, 1)
        return report

    def storage_requests(self) -> int:
        return sum(len(proxy.requests.all()) for proxy in self.backends.proxies.values())

    def settle(self, manifests: list[dict[str, Any]], report: ScaleReport) -> None:
        """One `kubectl apply`, then every resource Ready and every first scheduled run finished."""
        self.log(f"applying {self.plan.resources} resources in {self.plan.namespaces} namespaces")
        self.server.requests.clear()
        for proxy in self.backends.proxies.values():
            proxy.requests.clear()
        cpu_start = self.operator.cpu_seconds()
        started = time.monotonic()
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests), timeout=900)
        report.apply_seconds = round(time.monotonic() - started, 1)
        self.log(f"kubectl apply returned after {report.apply_seconds}s")
        self.wait_count(ready, "Ready", started)
        report.settle_seconds = round(time.monotonic() - started, 1)
        report.server_requests_to_settle = len(self.server.requests)
        report.storage_requests_to_settle = self.storage_requests()
        report.cpu_seconds_to_settle = round(self.operator.cpu_seconds() - cpu_start, 1)
        report.peak_rss_settle_mib = round(self.operator.rss_kib()[1] / 1024, 1)
        self.log(f"all Ready in {report.settle_seconds}s; waiting for the first scheduled runs")
        self.wait_count(run_done, "first runs finished", started)
        report.runs_settle_seconds = round(time.monotonic() - started, 1)

    def wait_count(self, predicate: Callable[[dict[str, Any]], bool], what: str, started: float) -> None:
        """Until `predicate` holds for every resource, saying how many so far."""

        def done() -> bool:
            count = sum(1 for body in resources(self.cluster) if predicate(body))
            self.log(f"  {what}: {count}/{self.plan.resources} after {time.monotonic() - started:.0f}s")
            return count >= self.plan.resources

        wait_for(done, self.plan.settle_timeout, interval=2.0, message=f"every resource {what}")

    def before_window(self) -> None:
        """Settled: `settle_resyncs` resyncs of every resource after the last became Ready, or the grace."""
        if self.plan.settle_resyncs:
            self.log(f"letting {self.plan.settle_resyncs} resync(s) of every resource pass before the quiet window")
            self.wait_resyncs(self.plan.settle_resyncs, self.plan.resync * 4 * self.plan.settle_resyncs + 60)
        time.sleep(self.plan.grace)

    def wait_resyncs(self, count: int, timeout: float) -> list[int]:
        """Until every resource has resynced `count` more times (counted at the server); the counts at the start."""
        start = resync_reads(self.server, self.plan.resources)

        def enough() -> bool:
            now = resync_reads(self.server, self.plan.resources)
            return min(a - b for a, b in zip(now, start, strict=True)) >= count

        wait_for(enough, timeout, interval=1.0, message=f"{count} resyncs of every resource")
        return start

    def quiet_window(self, report: ScaleReport, drivers: list[str]) -> None:
        """Until every resource has resynced `resyncs` times: nothing may be written anywhere."""
        before, statuses_before = snapshot(self.cluster, self.namespaces)
        files_before = scale_fleet.local_files(self.backends.local_root)
        server_mark = len(self.server.requests)
        proxy_marks = {d: len(p.requests.all()) for d, p in self.backends.proxies.items()}
        cpu_window = self.operator.cpu_seconds()
        window_start = time.monotonic()
        self.log(f"quiet window: until every resource has resynced {self.plan.resyncs} more times")
        # a busy machine starves the operator: a 10 s resync round of 40 resources was seen taking 35 s
        reads_at_start = self.wait_resyncs(self.plan.resyncs, self.plan.resync * (self.plan.resyncs + 3) * 4 + 60)
        report.quiet_seconds = round(time.monotonic() - window_start, 1)
        report.cpu_seconds_quiet = round(self.operator.cpu_seconds() - cpu_window, 1)
        after, statuses_after = snapshot(self.cluster, self.namespaces)
        report.api_objects_changed = sorted(k for k in after.keys() | before.keys() if after.get(k) != before.get(k))
        report.status_fields_changed = sorted(
            {f for k in statuses_after for f in changed_fields(statuses_before.get(k), statuses_after[k])}
        )
        files_after = scale_fleet.local_files(self.backends.local_root)
        report.local_files_changed = sorted(
            k for k in files_after.keys() | files_before.keys() if files_after.get(k) != files_before.get(k)
        )
        window_server = self.server.requests.records()[server_mark:]
        report.server_writes = [f"{r.method} {r.path}" for r in window_server if r.method not in ("GET", "HEAD")]
        per_resource = [
            a - b for a, b in zip(resync_reads(self.server, self.plan.resources), reads_at_start, strict=True)
        ]
        resyncs = sum(per_resource)
        window_storage = {d: p.requests.all()[proxy_marks[d] :] for d, p in self.backends.proxies.items()}
        report.storage_writes = [
            f"{e.method} {e.target}" for d in window_storage for e in window_storage[d] if e.is_write
        ]
        counts = {d: len(w) for d, w in window_storage.items()}
        report.storage_reads_per_resync_by_driver = reads_by_driver(counts, per_resource, drivers)
        report.resyncs_per_resource = min(per_resource)
        report.seconds_per_resync = round(report.quiet_seconds * self.plan.resources / max(resyncs, 1), 1)
        report.ticks_per_resource = round(report.quiet_seconds / self.plan.timer, 1)
        report.equivalent_hours_of_ticks = round(report.ticks_per_resource * DEFAULT_TIMER / 3600, 2)
        report.equivalent_hours_of_resyncs = round(resyncs / self.plan.resources * DEFAULT_RESYNC / 3600, 2)
        report.server_reads_per_resync = round(len(window_server) / max(resyncs, 1), 2)
        report.storage_reads_per_resync = round(sum(len(w) for w in window_storage.values()) / max(resyncs, 1), 2)
