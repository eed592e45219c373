"""Scale benchmark: N ExternalPayloadStorage resources applied at once, at rest, and in a run storm.

The drill of `tests/drills/test_scale.py` (40 S3 resources) at full size, on a private kube-apiserver, with
the operator as its own process (`python -m payload_operator run -A --standalone`, PYTHONPATH pointing at
the tree under test), one Durable Workflow server emulator (one server namespace per resource) and mixed
storage (`devkit/scale_fleet.py`): local directories, S3 on moto, the GCS emulator and Azurite, each
provider behind a counting proxy, one bucket per resource. Per fleet size and tree it measures

    settle      seconds from `kubectl apply` until every resource is Ready, and until every first scheduled
                run (a tenth of the resources have retention and integrity, in-process) finished
    rest        a window that ends when every resource has resynced (counted at the server): the operator's
                CPU share of one core, its RSS, and every write to the API server (resourceVersions,
                Events), the server, storage and the local directories, which must be none
    storm       run-now=retention on every resource at once (the others carry a suspended retention block),
                one resource's spec changed meanwhile: how long until it is Ready, the RSS, and the
                operator's concurrency series on /metrics (`devkit/scale_storm.py`)

The intervals default to the operator's (PAYLOAD_OPERATOR_TIMER_INTERVAL=30 s, resyncIntervalSeconds=300),
which the goals are stated at; --timer and --resync compress them for quick runs, and the table says
which were used. `--baseline REV` checks REV out into a worktree under .work/ and measures it the same
way right after this tree, size by size. Results accumulate in --results (one entry per tree, size and
intervals), so several invocations fill one table; --write-docs rewrites "## Scale" in docs/benchmarks.md
from it.

    .venv/bin/python benchmarks/scale.py --resources 100,300,1000 --baseline f89946c --write-docs
    .venv/bin/python benchmarks/scale.py --resources 20 --timer 2 --resync 20 --results /tmp/scale.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the drill machinery lives in devkit/
from devkit.cluster import Cluster, start_cluster  # noqa: E402
from devkit.dw_emulator import EmulatedServer, Tokens  # noqa: E402
from devkit.faultproxy import FaultProxy  # noqa: E402
from devkit.naming import unique_name  # noqa: E402
from devkit.operator_process import OperatorProcess  # noqa: E402
from devkit.scale_fleet import Backends  # noqa: E402
from devkit.scale_storm import Storm  # noqa: E402
from devkit.services import start_azurite, start_gcs_emulator, start_moto  # noqa: E402
from devkit.values import ADMIN_TOKEN  # noqa: E402

from benchmarks.docs_section import DOCS, replace_section  # noqa: E402
from devkit import scale, scale_table  # noqa: E402

SECTION = "## Scale"
CRD = Path("crds") / "externalpayloadstorages.yaml"
CRD_NAME = "externalpayloadstorages.payloads.durable-workflow.io"
DEFAULT_RESULTS = REPO / ".work" / "scale" / "results.json"
DRIVERS = ("s3", "gcs", "azure")  # the server emulator's provider drivers (local is always there)


def log(text: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S")
    print(f"{stamp} {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Tree:
    """An operator to measure: this checkout or a baseline worktree."""

    role: str  # "current" or "baseline"
    rev: str  # short commit, "+uncommitted" when operator/ has local changes
    root: Path

    @property
    def pythonpath(self) -> str:
        return str(self.root / "operator")


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def current_tree() -> Tree:
    dirty = bool(git("status", "--porcelain", "--", "operator", "crds"))
    return Tree("current", git("rev-parse", "--short", "HEAD") + ("+uncommitted" if dirty else ""), REPO)


def baseline_tree(rev: str) -> Tree:
    """REV checked out (detached) into .work/scale-baseline-<sha>, reused when it is already there."""
    sha = git("rev-parse", "--short", f"{rev}^{{commit}}")
    root = REPO / ".work" / f"scale-baseline-{sha}"
    if not (root / "operator").is_dir():
        git("worktree", "add", "--detach", str(root), sha)
    return Tree("baseline", sha, root)


def namespace_maker(cluster: Cluster) -> Callable[[str], str]:
    def make(prefix: str) -> str:
        name = unique_name(prefix)
        cluster.api("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        return name

    return make


def measure(tree: Tree, plan: scale.ScalePlan, workdir: Path) -> tuple[scale.ScaleReport, dict[str, Any]]:
    """One fleet size with one tree's operator, on fresh servers: settle, rest, storm."""
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(start_cluster())
        moto = stack.enter_context(start_moto())
        gcs = stack.enter_context(start_gcs_emulator())
        azurite = stack.enter_context(start_azurite())
        cluster.install_crd(tree.root / CRD, CRD_NAME)
        tokens = Tokens(admin=ADMIN_TOKEN, operator="bench-operator-role", worker="bench-worker-role")
        server = stack.enter_context(
            EmulatedServer(
                tokens=tokens,
                namespaces=[],
                local_root=workdir / "server",
                available_drivers=DRIVERS,
                profile="references",  # histories show references, so the orphan audit and integrity do their work
            )
        )
        backends = Backends(
            s3=(stack.enter_context(FaultProxy(moto.url)), moto),
            gcs=(stack.enter_context(FaultProxy(gcs.url)), gcs),
            azure=(stack.enter_context(FaultProxy(azurite.url)), azurite),
            local_root=workdir / "payloads",
        )
        env = plan.env | backends.operator_env() | {"PYTHONPATH": tree.pythonpath}
        operator = OperatorProcess(cluster.kubeconfig, workdir, env=env, name=f"operator-{tree.role}")
        operator.start()
        stack.callback(lambda: log(f"operator log: {operator.log_path}"))
        stack.callback(operator.stop)
        fleet = scale.Fleet(cluster, server, backends, operator, plan, log)
        report = fleet.settle_and_rest(namespace_maker(cluster))
        storm = Storm(cluster, operator, lambda: scale.resources(cluster), scale.ready, plan.settle_timeout, log)
        return report, asdict(storm.run())


def plan_for(resources: int, args: argparse.Namespace) -> scale.ScalePlan:
    return scale.ScalePlan(
        resources=resources,
        namespaces=scale_table.namespaces_for(resources, args.namespaces),
        timer=args.timer,
        resync=args.resync,
        resyncs=args.resyncs,
        settle_timeout=max(600.0, resources * 2.0),
        settle_resyncs=0,  # at the default resync interval one more round costs five minutes per run
        grace=2 * args.timer,
        storm=True,
    )


def run_one(tree: Tree, resources: int, args: argparse.Namespace) -> scale_table.Entry:
    """Measure one (tree, size) and return its results entry."""
    plan = plan_for(resources, args)
    workdir = args.workdir / f"{tree.role}-{resources}"
    subprocess.run(["rm", "-rf", str(workdir)], check=True)
    (workdir / "payloads").mkdir(parents=True)
    log(f"=== {tree.role} {tree.rev}: {resources} resources in {plan.namespaces} namespaces")
    started = time.monotonic()
    report, storm = measure(tree, plan, workdir)
    finished = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "role": tree.role,
        "rev": tree.rev,
        "resources": resources,
        "namespaces": plan.namespaces,
        "timer": plan.timer,
        "resync": plan.resync,
        "report": json.loads(report.as_json()),
        "storm": storm,
        "finished_at": finished,
        "wall_seconds": round(time.monotonic() - started),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "command": measured_command(sys.argv[1:]),
    }


def measured_command(argv: list[str]) -> str:
    """The command line as it bears on the measurement: without --note and --write-docs, which only shape
    the docs (a long note would otherwise be quoted in every "Measured with" line)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip or arg == "--write-docs" or arg.startswith("--note="):
            skip = False
            continue
        if arg == "--note":
            skip = True
            continue
        kept.append(arg)
    return " ".join(shlex.quote(a) for a in ["benchmarks/scale.py", *kept])


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def run_line(e: scale_table.Entry) -> str:
    spaces = f"{e['namespaces']} namespace" + ("s" if e["namespaces"] != 1 else "")
    return (
        f"- {e['rev']} ({e['role']}), {e['resources']:,} resources in {spaces}: finished {e['finished_at']},"
        f" {e['wall_seconds'] / 60:.0f} min, load average {e['load_average'][0]} at the end"
    )


def section(entries: list[scale_table.Entry], note: str = "") -> str:
    """The docs section: what was run, on what, the table, the slope, the goals."""
    first = entries[0]
    commands = sorted({e["command"] for e in entries})
    runs = "\n".join(run_line(e) for e in sorted(entries, key=lambda e: (e["resources"], e["role"] != "current")))
    mix = ", ".join(f"{n} {d}" for d, n in first["report"]["drivers"].items())
    slope = "\n".join(f"- {line}" for line in scale_table.slopes(entries)) or "- (one fleet size only)"
    goals = "\n".join(f"- {line}" for line in scale_table.goals(entries))
    concurrency = storm_series(entries)
    closing = f"\n{note}\n" if note else ""
    apart = (
        "\nThe trees were measured by separate invocations (see the finish times), so the machine's load differs"
        " between columns.\n"
        if len(commands) > 1
        else ""
    )
    return f"""{SECTION}

Measured with `.venv/bin/python {"` and `.venv/bin/python ".join(commands)}` (wrapped in
`flock /tmp/payload-bench.lock`) on {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()},
Linux {platform.release()}; the machine is shared with other work. Runs:

{runs}
{apart}
Each run starts its own kube-apiserver, moto, GCS emulator, Azurite and one Durable Workflow server emulator,
then applies N resources and their Secrets with one `kubectl apply`, in up to 20 namespaces (50 resources each).
Each resource has its own server namespace and its own bucket: the drivers take turns (for {first["resources"]:,}:
{mix}); S3 and GCS buckets carry a lifecycle rule (Azure rules need the ARM plane, which is not emulated;
Ceph RGW is left out: a Ceph monitor, OSD and gateway per run are not cheap to start). Every tenth resource has
daily retention (orphan audit dry run) and weekly integrity, in the operator's process; their first runs are
part of settling. The others carry a suspended retention block so the storm can ask all of them. The operator
runs with PAYLOAD_OPERATOR_TIMER_INTERVAL={first["timer"]:g} s and every resource has
resyncIntervalSeconds={first["resync"]}{" (the defaults)" if (first["timer"], first["resync"]) == (30, 300) else ""}.
The rest window opens two ticks after the first runs finished and closes when every resource has resynced
(counted at the server); the storm then sets run-now=retention on every resource and changes one resource's
spec once half the runs have started. The test suite runs the same drill with 40 S3 resources in 10 namespaces,
1 s ticks and 10 s resyncs, and asserts zero writes at rest (`tests/drills/test_scale.py`).

{scale_table.table(entries)}

{apply_note(entries)}
The rest window holds every resource's resync but is shorter than one resync interval when the fleet became
Ready over a while, so "over the window" overstates the steady share; "per resync interval" spreads the
window's CPU over as many intervals as it held resync rounds, which understates the timer ticks' part. The
steady share lies between the two.

Growth from the smallest to the largest fleet:

{slope}

Goals (issue 16) at this tree's largest fleet:

{goals}

Concurrency series the operator exposed during the storm (highest value seen): {concurrency}
{closing}"""


def apply_note(entries: list[scale_table.Entry]) -> str:
    """What the apply itself took at the largest fleet (kubectl sends a GET and a POST per object, competing
    with the operator for the API server)."""
    timed = [e for e in entries if e["report"].get("apply_seconds")]
    if not timed:
        return ""
    largest = max(timed, key=lambda e: (int(e["resources"]), e["role"] == "current"))
    report = largest["report"]
    return (
        f"`kubectl apply` (the control plane's own kubectl 1.20, a GET and a POST per object) took"
        f" {report['apply_seconds']:.0f} s at {int(largest['resources']):,} resources ({largest['rev']}); the"
        f" operator had every resource Ready {report['settle_seconds'] - report['apply_seconds']:.0f} s after it"
        " returned.\n"
    )


def storm_series(entries: list[scale_table.Entry]) -> str:
    """The largest current run's concurrency series, or a note that there were none."""
    current = [e for e in entries if e["role"] == "current" and e.get("storm")]
    if not current:
        return "no storm measured."
    largest = max(current, key=lambda e: int(e["resources"]))
    series = largest["storm"]["concurrency"]
    if not series:
        return f"none at {largest['rev']} (no in-flight, slot or queue series on /metrics)."
    return "; ".join(f"`{name}` {value:g}" for name, value in sorted(series.items())) + "."


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", default="1000", help="fleet sizes, comma-separated (e.g. 100,300,1000)")
    parser.add_argument("--namespaces", type=int, default=20, help="at most this many namespaces, 50 resources each")
    parser.add_argument("--resyncs", type=int, default=1, help="rest window: resyncs of every resource")
    parser.add_argument("--timer", type=float, default=30.0, help="PAYLOAD_OPERATOR_TIMER_INTERVAL, seconds")
    parser.add_argument("--resync", type=int, default=300, help="resyncIntervalSeconds of every resource")
    parser.add_argument("--baseline", help="also measure this revision (a git worktree under .work/)")
    parser.add_argument("--baseline-only", action="store_true", help="measure only the baseline")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="accumulated results (JSON)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/payload-operator-scale-bench"))
    parser.add_argument("--write-docs", action="store_true", help=f"replace '{SECTION}' in {DOCS}")
    parser.add_argument("--render-only", action="store_true", help="measure nothing: render --results")
    parser.add_argument("--note", default="", help="a closing paragraph for the section (what did not run, why)")
    return parser.parse_args()


def trees(args: argparse.Namespace) -> list[Tree]:
    chosen = [] if args.baseline_only else [current_tree()]
    return chosen + ([baseline_tree(args.baseline)] if args.baseline else [])


def main() -> None:
    args = parse()
    entries = scale_table.load(args.results)
    if not args.render_only:
        measured = trees(args)
        for resources in (int(n) for n in args.resources.split(",")):
            for tree in measured:
                entries = scale_table.merge(args.results, run_one(tree, resources, args))
    shown = [e for e in entries if (e["timer"], e["resync"]) == (args.timer, args.resync)]
    text = section(shown, args.note)
    print(text)
    if args.write_docs:
        replace_section(SECTION, text)
    writes = [e["resources"] for e in shown if e["role"] == "current" and scale_table.writes_at_rest(e)]
    if writes:
        log(f"FAILED: writes at rest with {writes} resources")
        sys.exit(1)


if __name__ == "__main__":
    main()
