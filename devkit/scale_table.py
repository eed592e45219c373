"""The scale benchmark's results: kept per (tree, size) in one JSON file, rendered as one comparison table.

Each run of `benchmarks/scale.py` measures one fleet size with one operator tree (this commit's, or a
baseline's worktree) and adds an entry; entries of several invocations accumulate, so the table can show
100, 300 and 1,000 resources for both trees side by side, whatever order they were measured in. Pure
functions only: the benchmark does the measuring.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Entry = dict[str, Any]
GOAL_READY_SECONDS = 120.0  # for 1,000 resources (issue 16)
GOAL_RSS_MIB = 256.0
GOAL_CPU_SHARE = 0.05


def entry_key(entry: Entry) -> str:
    """One entry per tree role, size and intervals: a later run of the same replaces the earlier."""
    return f"{entry['role']}/{entry['resources']}/{entry['timer']:g}/{entry['resync']}"


def merge(path: Path, entry: Entry) -> list[Entry]:
    """Add `entry` to the results file (replacing its namesake) and return every entry."""
    entries = {entry_key(e): e for e in load(path)}
    entries[entry_key(entry)] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(entries.values()), indent=2))
    return list(entries.values())


def load(path: Path) -> list[Entry]:
    return list(json.loads(path.read_text())) if path.exists() else []


def namespaces_for(resources: int, most: int = 20, per_namespace: int = 50) -> int:
    """Namespaces scale down for small fleets: 50 resources each, at most `most`."""
    return max(1, min(most, -(-resources // per_namespace)))


def ratio(current: float | None, baseline: float | None) -> str:
    """current / baseline, or a dash when either is missing or the baseline is zero."""
    if current is None or baseline is None or baseline == 0:
        return "-"
    return f"{current / baseline:.2f}x"


@dataclass(frozen=True)
class Measure:
    """One row: its label, the goal it is held against (text), how to read it from an entry, its format."""

    label: str
    goal: str
    read: Callable[[Entry], float | None]
    fmt: str = "{:.0f}"

    def text(self, entry: Entry | None) -> str:
        value = None if entry is None else self.read(entry)
        return "-" if value is None else self.fmt.format(value)


def _report(name: str) -> Callable[[Entry], float | None]:
    return lambda e: e["report"].get(name)


def _storm(name: str) -> Callable[[Entry], float | None]:
    return lambda e: (e.get("storm") or {}).get(name)


def writes_at_rest(e: Entry) -> float:
    """Every write the rest window saw: API objects, server, storage, local files."""
    report = e["report"]
    kinds = ("api_objects_changed", "server_writes", "storage_writes", "local_files_changed")
    return float(sum(len(report.get(k) or []) for k in kinds))


def _driver_reads(driver: str) -> Callable[[Entry], float | None]:
    return lambda e: (e["report"].get("storage_reads_per_resync_by_driver") or {}).get(driver)


def _after_apply(e: Entry) -> float | None:
    report = e["report"]
    return None if not report.get("apply_seconds") else float(report["settle_seconds"]) - float(report["apply_seconds"])


def _storm_failures(e: Entry) -> float | None:
    storm = e.get("storm")
    return None if not storm else float(storm["runs"] - (storm.get("results") or {}).get("Succeeded", 0))


def _cpu_share(e: Entry) -> float:
    return 100 * float(e["report"]["cpu_seconds_quiet"]) / max(float(e["report"]["quiet_seconds"]), 0.001)


def _rounds(e: Entry) -> float | None:
    """Resyncs per resource in the rest window (on average)."""
    report = e["report"]
    return (
        float(report["quiet_seconds"]) / float(report["seconds_per_resync"])
        if report.get("seconds_per_resync")
        else None
    )


def _cpu_share_per_round(e: Entry) -> float | None:
    """CPU over the window spread across as many resync intervals as the window held resync rounds: the
    window is shorter than one interval when resources became Ready over a while, yet holds every resync."""
    rounds = _rounds(e)
    return None if not rounds else 100 * float(e["report"]["cpu_seconds_quiet"]) / (rounds * float(e["resync"]))


PEAK_SETTLE = Measure("peak RSS when all Ready (VmHWM, MiB)", f"< {GOAL_RSS_MIB:.0f}", _report("peak_rss_settle_mib"))
RSS_REST = Measure("RSS at rest (MiB)", f"< {GOAL_RSS_MIB:.0f}", _report("rss_mib"))
CPU_REST = Measure("CPU at rest over the window (% of one core)", f"< {100 * GOAL_CPU_SHARE:.0f}", _cpu_share, "{:.1f}")
CPU_PER_INTERVAL = Measure(
    "CPU at rest per resync interval (% of one core)", f"< {100 * GOAL_CPU_SHARE:.0f}", _cpu_share_per_round, "{:.1f}"
)
MEASURES = [
    Measure("apply to all Ready (s)", f"< {GOAL_READY_SECONDS:.0f} at 1,000", _report("settle_seconds"), "{:.1f}"),
    Measure("... of which `kubectl apply` itself (s)", "", _report("apply_seconds"), "{:.1f}"),
    Measure("... all Ready after `kubectl apply` returned (s)", "", _after_apply, "{:.1f}"),
    Measure("apply to every first run finished (s)", "", _report("runs_settle_seconds"), "{:.1f}"),
    Measure("operator CPU to settle (s)", "", _report("cpu_seconds_to_settle"), "{:.1f}"),
    PEAK_SETTLE,
    RSS_REST,
    CPU_REST,
    CPU_PER_INTERVAL,
    Measure("rest window (s)", "", _report("quiet_seconds")),
    Measure("resyncs in the window per resource", "", _rounds, "{:.2f}"),
    Measure("fewest resyncs of a resource in the window", ">= 1", _report("resyncs_per_resource")),
    Measure("writes at rest (API objects, server, storage, files)", "0", writes_at_rest),
    Measure("server reads per resync", "", _report("server_reads_per_resync"), "{:.2f}"),
    Measure("S3 reads per resync", "", _driver_reads("s3"), "{:.2f}"),
    Measure("GCS reads per resync", "", _driver_reads("gcs"), "{:.2f}"),
    Measure("Azure reads per resync", "", _driver_reads("azure"), "{:.2f}"),
    Measure("storm: retention runs", "", _storm("runs")),
    Measure("storm: all runs finished (s)", "", _storm("seconds"), "{:.1f}"),
    Measure("storm: runs not Succeeded", "0", _storm_failures),
    Measure("storm: runs active when one spec was changed", "", _storm("runs_active_at_probe")),
    Measure("storm: that change Ready (s)", "bounded", _storm("probe_seconds"), "{:.1f}"),
    Measure("storm: peak RSS sampled (MiB)", f"< {GOAL_RSS_MIB:.0f}", _storm("peak_rss_mib")),
    Measure("peak RSS over the whole run (VmHWM, MiB)", f"< {GOAL_RSS_MIB:.0f}", _storm("hwm_mib")),
]


def pick(entries: Iterable[Entry], role: str, resources: int) -> Entry | None:
    return next((e for e in entries if e["role"] == role and e["resources"] == resources), None)


def _rev(entries: list[Entry], role: str, resources: int) -> str:
    found = pick(entries, role, resources)
    return found["rev"] if found else "this" if role == "current" else "baseline"


def table(entries: list[Entry]) -> str:
    """Rows are measures; per fleet size, this tree's figure, the baseline's and their ratio."""
    sizes = sorted({int(e["resources"]) for e in entries})
    header = ["measure", "goal"]
    for size in sizes:
        header += [f"{size:,} {_rev(entries, 'current', size)}", f"{size:,} {_rev(entries, 'baseline', size)}", "ratio"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (3 * len(sizes))]
    for measure in MEASURES:
        cells = [measure.label, measure.goal]
        for size in sizes:
            current, baseline = pick(entries, "current", size), pick(entries, "baseline", size)
            values = [None if e is None else measure.read(e) for e in (current, baseline)]
            cells += [measure.text(current), measure.text(baseline), ratio(*values)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def slope(entries: list[Entry], role: str, read: Callable[[Entry], float | None]) -> float | None:
    """Growth per 100 resources between the smallest and the largest fleet measured for `role`."""
    points = sorted(
        (int(e["resources"]), value) for e in entries if e["role"] == role and (value := read(e)) is not None
    )
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return None
    (n0, v0), (n1, v1) = points[0], points[-1]
    return 100 * (v1 - v0) / (n1 - n0)


def slopes(entries: list[Entry]) -> list[str]:
    """One line per tree: how RSS at rest, peak RSS and CPU at rest grow per 100 resources."""
    lines = []
    for role in ("current", "baseline"):
        rev = _revisions(entries, role)
        figures = [slope(entries, role, m.read) for m in (RSS_REST, PEAK_SETTLE, CPU_REST)]
        if rev is None or None in figures:
            continue
        rest, peak, cpu = figures
        lines.append(
            f"{rev}: RSS at rest {rest:+.1f} MiB, peak RSS {peak:+.1f} MiB, CPU at rest {cpu:+.2f} points"
            " per 100 resources"
        )
    return lines


def _revisions(entries: list[Entry], role: str) -> str | None:
    """The revision measured for `role`, or each revision with its fleet sizes when they differ."""
    sizes: dict[str, list[int]] = {}
    for e in sorted((e for e in entries if e["role"] == role), key=lambda e: int(e["resources"])):
        sizes.setdefault(str(e["rev"]), []).append(int(e["resources"]))
    if len(sizes) < 2:
        return next(iter(sizes), None)
    return " and ".join(f"{rev} at {', '.join(f'{n:,}' for n in ns)}" for rev, ns in sizes.items())


def goals(entries: list[Entry]) -> list[str]:
    """The issue's goals against this tree's largest fleet: met, or by how much not."""
    measured = [e for e in entries if e["role"] == "current"]
    if not measured:
        return []
    largest = max(measured, key=lambda e: int(e["resources"]))
    report, storm = largest["report"], largest.get("storm") or {}
    peak = max(float(report["peak_rss_mib"]), float(storm.get("hwm_mib") or 0))
    checks = [
        ("apply to all Ready", float(report["settle_seconds"]), GOAL_READY_SECONDS, "s"),
        ("peak RSS", peak, GOAL_RSS_MIB, "MiB"),
        ("RSS at rest", float(report["rss_mib"]), GOAL_RSS_MIB, "MiB"),
        ("CPU at rest over the window", _cpu_share(largest), 100 * GOAL_CPU_SHARE, "% of one core"),
        ("CPU at rest per resync interval", _cpu_share_per_round(largest), 100 * GOAL_CPU_SHARE, "% of one core"),
        ("writes at rest", writes_at_rest(largest), 0.0, ""),
    ]
    size = f"{int(largest['resources']):,} resources"
    return [
        f"{name} at {size}: {value:.3g} {unit} (goal {'<' if limit else '='} {limit:g}): "
        + ("met" if (value < limit if limit else value == 0) else "NOT met")
        for name, value, limit, unit in checks
        if value is not None
    ]
