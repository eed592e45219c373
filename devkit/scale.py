"""The scale drill's machinery, shared by `tests/drills/test_scale.py` (40 resources) and `benchmarks/scale.py` (300).

Many resources are applied at once, each with its own Durable Workflow namespace (on one server
emulator) and its own S3 bucket with lifecycle rules (moto, behind a counting fault proxy). The
drill measures how long until every resource is Ready and how many server and storage requests that
took, then watches a quiet window: with nothing changed, every timer tick and every resync must make
no write at all, to the API server (resourceVersions and Events), the storage servers or the
Durable Workflow server. The window ends once every resource has resynced a given number of times
(counted at the server), so it is measured, not slept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.faultproxy import FaultProxy
from devkit.manifests import eps_manifest, s3_secret, token_secret
from devkit.operator_process import OperatorProcess
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


@dataclass(frozen=True)
class ScalePlan:
    resources: int = 40
    namespaces: int = 4
    timer: float = 1.0  # PAYLOAD_OPERATOR_TIMER_INTERVAL of the operator under test
    resync: int = 10  # spec.server.resyncIntervalSeconds of every resource
    resyncs: int = 6  # the quiet window ends when every resource has resynced this often
    settle_timeout: float = 300.0
    runs_every: int = 10  # every n-th resource also has a daily retention run (in-process, dry run)

    @property
    def env(self) -> dict[str, str]:
        return {"PAYLOAD_OPERATOR_TIMER_INTERVAL": f"{self.timer:g}"}


@dataclass
class ScaleReport:
    resources: int
    namespaces: int
    settle_seconds: float = 0.0
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
    server_reads_per_resync: float = 0.0
    storage_reads_per_resync: float = 0.0
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    cpu_seconds_to_settle: float = 0.0
    cpu_seconds_quiet: float = 0.0

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

    def as_json(self) -> str:
        data = asdict(self) | {
            "server_requests_per_resource": round(self.server_requests_per_resource, 1),
            "storage_requests_per_resource": round(self.storage_requests_per_resource, 1),
            "cpu_ms_per_resource_tick": round(self.cpu_ms_per_resource_tick, 2),
            "cpu_utilization_quiet": round(self.cpu_utilization_quiet, 2),
        }
        return json.dumps(data, indent=2)


def dw_namespace(index: int) -> str:
    return f"scale-{index:04d}"


def build(
    make_namespace: Callable[[str], str], server: EmulatedServer, proxy: FaultProxy, moto: S3Endpoint, plan: ScalePlan
) -> tuple[list[str], list[dict[str, Any]]]:
    """Namespaces, buckets and server namespaces; returns (namespaces, manifests) ready to apply."""
    s3 = moto.client()
    namespaces = [make_namespace(f"scale-{n}") for n in range(plan.namespaces)]
    manifests: list[dict[str, Any]] = []
    for name in namespaces:
        manifests += [token_secret(name), s3_secret(name)]
    for index in range(plan.resources):
        bucket = f"scale-{index:04d}-{namespaces[0][-6:]}"
        s3.create_bucket(Bucket=bucket)
        server.add_namespace(dw_namespace(index))
        runs: dict[str, Any] = {}
        if index % plan.runs_every == 0:
            audit = {"mode": "DryRun", "minAge": "1h"}
            runs = {"retention": {"schedule": "@daily", "serverPasses": False, "orphanAudit": audit}}
            runs["runner"] = {"type": "InProcess"}
        block = {
            "bucket": bucket,
            "endpoint": proxy.url,
            "forcePathStyle": True,
            "credentialsSecretRef": {"name": "dw-s3"},
        }
        manifests.append(
            eps_manifest(
                namespaces[index % plan.namespaces],
                f"payloads-{index:04d}",
                url=server.url,
                dw_namespaces=[dw_namespace(index)],
                resync=plan.resync,
                timeout=15,
                driver="s3",
                s3=block,
                prefix="dw",
                lifecycle={"tmpPrefixes": ["tmp/"], "expirationDays": 10},
                **runs,
            )
        )
    return namespaces, manifests


def resources(cluster: Cluster) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.api("GET", f"{GROUP_PATH}/externalpayloadstorages")["items"]
    return items


def run_done(body: dict[str, Any]) -> bool:
    """The first scheduled run finished (True for resources without runs)."""
    status = body.get("status") or {}
    return "retention" not in body["spec"] or bool((status.get("retention") or {}).get("lastResult"))


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
    """Apply, wait until Ready, watch the quiet window; the operator must already be running."""
    report = ScaleReport(plan.resources, plan.namespaces)
    namespaces, manifests = build(make_namespace, server, proxy, moto, plan)
    log(f"applying {plan.resources} resources in {plan.namespaces} namespaces")
    server.requests.clear()
    proxy.requests.clear()
    cpu_start = operator.cpu_seconds()
    started = time.monotonic()
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests), timeout=300)

    def all_ready() -> bool:
        done = sum(1 for body in resources(cluster) if ready(body))
        log(f"  {done}/{plan.resources} Ready after {time.monotonic() - started:.0f}s")
        return done >= plan.resources

    wait_for(all_ready, plan.settle_timeout, interval=2.0, message="every resource Ready")
    report.settle_seconds = round(time.monotonic() - started, 1)
    report.server_requests_to_settle = len(server.requests)
    report.storage_requests_to_settle = len(proxy.requests.all())
    report.cpu_seconds_to_settle = round(operator.cpu_seconds() - cpu_start, 1)
    log(f"all Ready in {report.settle_seconds}s; waiting for the first scheduled runs")

    def runs_finished() -> bool:
        done = sum(1 for body in resources(cluster) if run_done(body))
        log(f"  first runs finished: {done}/{plan.resources} resources done after {time.monotonic() - started:.0f}s")
        return done >= plan.resources

    wait_for(runs_finished, plan.settle_timeout, interval=2.0, message="every first scheduled run finished")
    report.runs_settle_seconds = round(time.monotonic() - started, 1)
    log("letting one resync interval pass before the quiet window")

    # Settled: one full resync interval after the last resource became Ready, then the window opens.
    baseline = resync_reads(server, plan.resources)
    wait_for(
        lambda: all(a > b for a, b in zip(resync_reads(server, plan.resources), baseline, strict=True)),
        plan.resync * 4 + 60,
        interval=1.0,
        message="one resync of every resource",
    )
    before, statuses_before = snapshot(cluster, namespaces)
    server_mark, proxy_mark = len(server.requests), len(proxy.requests.all())
    reads_at_start = resync_reads(server, plan.resources)
    cpu_window = operator.cpu_seconds()
    window_start = time.monotonic()
    log(f"quiet window: until every resource has resynced {plan.resyncs} more times")
    wait_for(
        lambda: (
            min(a - b for a, b in zip(resync_reads(server, plan.resources), reads_at_start, strict=True))
            >= plan.resyncs
        ),
        # a busy machine starves the operator: a 10 s resync round of 40 resources was seen taking 35 s
        plan.resync * (plan.resyncs + 3) * 4 + 60,
        interval=1.0,
        message=f"{plan.resyncs} resyncs of every resource",
    )
    report.quiet_seconds = round(time.monotonic() - window_start, 1)
    report.cpu_seconds_quiet = round(operator.cpu_seconds() - cpu_window, 1)
    after, statuses_after = snapshot(cluster, namespaces)
    report.api_objects_changed = sorted(k for k in after.keys() | before.keys() if after.get(k) != before.get(k))
    report.status_fields_changed = sorted(
        {f for k in statuses_after for f in changed_fields(statuses_before.get(k), statuses_after[k])}
    )
    window_server = server.requests.records()[server_mark:]
    window_storage = proxy.requests.all()[proxy_mark:]
    report.server_writes = [f"{r.method} {r.path}" for r in window_server if r.method not in ("GET", "HEAD")]
    report.storage_writes = [f"{e.method} {e.target}" for e in window_storage if e.is_write]
    resyncs = sum(a - b for a, b in zip(resync_reads(server, plan.resources), reads_at_start, strict=True))
    report.resyncs_per_resource = resyncs // plan.resources
    report.seconds_per_resync = round(report.quiet_seconds * plan.resources / max(resyncs, 1), 1)
    report.ticks_per_resource = round(report.quiet_seconds / plan.timer, 1)
    report.equivalent_hours_of_ticks = round(report.ticks_per_resource * DEFAULT_TIMER / 3600, 2)
    report.equivalent_hours_of_resyncs = round(report.resyncs_per_resource * DEFAULT_RESYNC / 3600, 2)
    report.server_reads_per_resync = round(len(window_server) / max(resyncs, 1), 2)
    report.storage_reads_per_resync = round(len(window_storage) / max(resyncs, 1), 2)
    rss, peak = operator.rss_kib()
    report.rss_mib, report.peak_rss_mib = round(rss / 1024, 1), round(peak / 1024, 1)
    return report
