"""What `kubectl eps` shows, computed from resource bodies as kubectl returns them: pure, so each view is the
same data for `-o json` and for the text tables.

Status is read leniently (plain mappings, absent blocks allowed): the plugin may be older or newer than the
operator that wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from payload_operator.core.timefmt import parse_time

KINDS = ("retention", "integrity")
USAGE_CLASSES = ("referenced", "young", "candidate", "temporary", "quarantined", "foreign")
COUNTS = ("checked", "ok", "missing", "corrupt", "unreadable", "invalidReferences", "malformedKeys", "quarantined")


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [dict(item) for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def identity(body: Mapping[str, Any]) -> dict[str, str]:
    """Namespace and name."""
    meta = _mapping(body.get("metadata"))
    return {"namespace": str(meta.get("namespace", "")), "name": str(meta.get("name", ""))}


def run_block(body: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """`status.<kind>` ({} when the resource has no such runs)."""
    return _mapping(_mapping(body.get("status")).get(kind))


def last_result(body: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """`status.<kind>.lastResult` ({} before the first run finished)."""
    return _mapping(run_block(body, kind).get("lastResult"))


def active_run(body: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The run in progress, with its Job names as a list whichever way the operator wrote them."""
    active = _mapping(run_block(body, kind).get("activeRun"))
    if not active.get("id"):
        return None
    names = active.get("jobNames")
    if not isinstance(names, list):
        names = [name for name in str(active.get("jobs") or "").split(",") if name]
    return {
        "id": str(active["id"]),
        "startTime": active.get("startTime"),
        "runner": active.get("runner"),
        "shards": int(str(active.get("shards") or 1)),
        "jobNames": [str(name) for name in names],
    }


def _runs_of(body: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    block = run_block(body, kind)
    if not block and "spec" in body and not _mapping(body.get("spec")).get(kind):
        return None
    recent = _list(block.get("recentRuns"))
    return {
        "lastRun": recent[0] if recent else None,
        "nextRunTime": block.get("nextRunTime"),
        "schedule": block.get("effectiveSchedule"),
        "active": active_run(body, kind),
    }


def usage(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """Storage usage by class from the last retention run (`lastResult.usage`), when the operator records it."""
    found = _mapping(last_result(body, "retention").get("usage"))
    return found or None


def drift_corrections(body: Mapping[str, Any]) -> dict[str, int]:
    """Server policies put back (summed over namespaces) and owned bucket rules put back."""
    status = _mapping(body.get("status"))
    policy = sum(int(ns.get("driftCorrections") or 0) for ns in _list(status.get("namespaces")))
    return {"policy": policy, "lifecycle": int(_mapping(status.get("lifecycle")).get("driftRepairs") or 0)}


def summary(body: Mapping[str, Any]) -> dict[str, Any]:
    """One resource as `kubectl eps status` reports it."""
    conditions = [
        {key: item.get(key) for key in ("type", "status", "reason", "message")}
        for item in _list(_mapping(body.get("status")).get("conditions"))
    ]
    return identity(body) | {
        "ready": next((c for c in conditions if c["type"] == "Ready"), None),
        "conditions": conditions,
        "driftCorrections": drift_corrections(body),
        "retention": _runs_of(body, "retention"),
        "integrity": _runs_of(body, "integrity"),
        "usage": usage(body),
    }


def history(body: Mapping[str, Any]) -> dict[str, Any]:
    """`kubectl eps runs`: every kind's recent runs, newest first, the active runs and the last results."""
    runs = [{"kind": kind} | run for kind in KINDS for run in _list(run_block(body, kind).get("recentRuns"))]
    runs.sort(key=lambda run: str(run.get("startTime") or ""), reverse=True)
    return identity(body) | {
        "runs": runs,
        "active": {kind: active for kind in KINDS if (active := active_run(body, kind)) is not None},
        "lastResults": {kind: result for kind in KINDS if (result := last_result(body, kind))},
    }


def bad_keys(body: Mapping[str, Any]) -> dict[str, Any]:
    """`kubectl eps bad`: the bad entries of the last integrity run (its bounded sample) with its counts."""
    result = last_result(body, "integrity")
    return identity(body) | {
        "runId": result.get("runId"),
        "result": result.get("result"),
        "counts": {name: result[name] for name in COUNTS if isinstance(result.get(name), int)},
        "bad": _list(result.get("bad")),
        "notes": [str(note) for note in result.get("notes") or []],
    }


# ---- text ----


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns as kubectl prints them: upper-case header, left-aligned, three spaces apart."""
    lines = [list(header), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def relative(text: Any, now: datetime) -> str:
    """`3m ago` / `in 5h` for an RFC 3339 time; `-` when absent."""
    moment = parse_time(text)
    if moment is None:
        return "-"
    seconds = int((moment - now).total_seconds())
    span = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if span >= size:
            amount = f"{span // size}{unit}"
            break
    else:
        amount = f"{span}s"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def size(count: Any) -> str:
    """Bytes in binary units, as `kubectl top` and `df -h` print them."""
    value = float(count or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _run_cell(runs: Mapping[str, Any] | None, now: datetime) -> tuple[str, str]:
    if runs is None:
        return "-", "-"
    if runs["active"] is not None:
        last = f"Running since {relative(runs['active']['startTime'], now).removesuffix(' ago')}"
    elif runs["lastRun"] is not None:
        last = f"{runs['lastRun'].get('result')} {relative(runs['lastRun'].get('startTime'), now)}"
    else:
        last = "never"
    return last, relative(runs["nextRunTime"], now) if runs["nextRunTime"] else "-"


def _conditions_cell(conditions: Sequence[Mapping[str, Any]]) -> str:
    failing = [f"{c['type']}={c['status']}({c['reason']})" for c in conditions if c["status"] != "True"]
    return ",".join(failing) or ("all True" if conditions else "-")


def status_text(summaries: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """The `status` tables: one row per resource, then storage usage where the operator recorded it."""
    header = ["NAMESPACE", "NAME", "READY", "NOT TRUE", "DRIFT", "RETENTION", "NEXT", "INTEGRITY", "NEXT"]
    rows = []
    for item in summaries:
        ready = item["ready"] or {"status": "Unknown", "reason": "NotReconciled"}
        drift = item["driftCorrections"]
        others = [c for c in item["conditions"] if c["type"] != "Ready"]
        rows.append(
            [
                item["namespace"],
                item["name"],
                "True" if ready["status"] == "True" else f"{ready['status']} ({ready['reason']})",
                _conditions_cell(others),
                f"{drift['policy']}/{drift['lifecycle']}",
                *_run_cell(item["retention"], now),
                *_run_cell(item["integrity"], now),
            ]
        )
    text = table(header, rows)
    with_usage = [item for item in summaries if item["usage"]]
    if with_usage:
        usage_rows = [
            [
                item["namespace"],
                item["name"],
                *(_figure(item["usage"].get(name)) for name in USAGE_CLASSES),
                _cost(item["usage"]),
            ]
            for item in with_usage
        ]
        header = ["NAMESPACE", "NAME", *(name.upper() for name in USAGE_CLASSES), "MONTHLY"]
        text += "\n\nSTORAGE USAGE (last retention run)\n" + table(header, usage_rows)
    return text


def _figure(value: Any) -> str:
    figure = _mapping(value)
    if not figure:
        return "-"
    return f"{size(figure.get('bytes'))} / {figure.get('objects', 0)}"


def _cost(found: Mapping[str, Any]) -> str:
    cost = found.get("estimatedMonthlyCost")
    return "-" if cost is None else f"{cost:.2f}"


def history_text(view: Mapping[str, Any], now: datetime) -> str:
    """The `runs` table, the runs in progress, and each kind's last result in one line."""
    rows = [
        [
            run["kind"],
            str(run.get("startTime") or "-"),
            _duration(run.get("startTime"), run.get("completionTime")),
            str(run.get("result") or "-"),
            str(run.get("message") or ""),
        ]
        for run in view["runs"]
    ]
    lines = [table(["KIND", "STARTED", "TOOK", "RESULT", "MESSAGE"], rows) if rows else "no finished runs yet"]
    for kind, active in view["active"].items():
        since = relative(active["startTime"], now).removesuffix(" ago")
        lines.append(
            f"{kind} run {active['id']} in progress for {since} ({active['runner']}, {active['shards']} shards)"
        )
    for kind, result in view["lastResults"].items():
        lines.append(f"last {kind} run {result.get('runId', '?')}: {result_line(kind, result)}")
    return "\n".join(lines)


def result_line(kind: str, result: Mapping[str, Any]) -> str:
    """One line of a last result: its outcome and its counts."""
    head = f"{result.get('result', '?')}"
    if kind == "integrity":
        counts = ", ".join(f"{name} {result[name]}" for name in COUNTS if isinstance(result.get(name), int))
        return f"{head}: {counts}" if counts else head
    orphans = _mapping(result.get("orphans"))
    passes = _mapping(result.get("serverPasses"))
    parts = [f"server passes {passes['status']}"] if passes.get("status") else []
    if orphans.get("status"):
        parts.append(f"orphan audit {orphans['status']}: {orphans.get('candidates', 0)} candidates")
    return f"{head}: {'; '.join(parts)}" if parts else head


def _duration(start: Any, end: Any) -> str:
    begun, ended = parse_time(start), parse_time(end)
    if begun is None or ended is None:
        return "-"
    return f"{int((ended - begun).total_seconds())}s"


def bad_text(view: Mapping[str, Any]) -> str:
    """The `bad` report: which run, its counts, then one line per bad key with what was expected and found."""
    if not view["runId"]:
        return f"{view['namespace']}/{view['name']}: no integrity run has finished yet"
    counts = ", ".join(f"{name} {value}" for name, value in view["counts"].items())
    lines = [f"integrity run {view['runId']} ({view['result']}): {counts}"]
    if view["bad"]:
        rows = [[entry.get("problem", "?"), entry.get("key", "?"), bad_detail(entry)] for entry in view["bad"]]
        lines.append(table(["PROBLEM", "KEY", "DETAIL"], rows))
    else:
        lines.append("no bad keys")
    lines.extend(f"note: {note}" for note in view["notes"])
    return "\n".join(lines)


def bad_detail(entry: Mapping[str, Any]) -> str:
    """What was expected and found (size and hash problems), else the entry's own detail."""
    if entry.get("problem") in ("size", "hash"):
        expected = f"{entry['expectedSize']} bytes, " if entry.get("expectedSize") is not None else ""
        return (
            f"expected {expected}sha256 {entry.get('expectedSha256')}; "
            f"found {entry.get('actualSize')} bytes, sha256 {entry.get('actualSha256')}"
        )
    return str(entry.get("detail") or "")
