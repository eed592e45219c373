"""The scale benchmark's pure parts: the fleet's mix, the counting, the results file and the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devkit import scale, scale_fleet, scale_storm, scale_table


def entry(role: str, resources: int, *, rss: float, cpu: float, writes: int = 0, ready: float = 10.0) -> dict[str, Any]:
    report = {
        "settle_seconds": ready,
        "runs_settle_seconds": ready + 5,
        "cpu_seconds_to_settle": 1.0,
        "peak_rss_settle_mib": rss + 10,
        "peak_rss_mib": rss + 10,
        "rss_mib": rss,
        "cpu_seconds_quiet": cpu,
        "quiet_seconds": 100.0,
        "seconds_per_resync": 50.0,
        "resyncs_per_resource": 1,
        "api_objects_changed": ["x"] * writes,
        "storage_reads_per_resync_by_driver": {"s3": 1.0},
    }
    storm = {"runs": resources, "seconds": 9.0, "probe_seconds": 1.5, "peak_rss_mib": rss + 20, "hwm_mib": rss + 20}
    rev = "abc1234" if role == "current" else "f89946c"
    return {
        "role": role,
        "rev": rev,
        "resources": resources,
        "namespaces": 2,
        "timer": 30.0,
        "resync": 300,
        "report": report,
        "storm": storm,
    }


def test_drivers_take_turns_and_namespaces_scale_down() -> None:
    drivers = ("local", "s3", "gcs", "azure")
    assert [scale_fleet.driver_of(i, drivers) for i in range(5)] == ["local", "s3", "gcs", "azure", "local"]
    assert [scale_table.namespaces_for(n) for n in (1, 20, 100, 300, 1000, 5000)] == [1, 1, 2, 6, 20, 20]


def test_backends_name_their_drivers_in_a_fixed_order(tmp_path: Path) -> None:
    assert scale_fleet.Backends(local_root=tmp_path).drivers == ("local",)
    assert scale_fleet.Backends().operator_env() == {}


def test_only_scheduled_resources_run_at_creation_and_the_storm_adds_suspended_blocks() -> None:
    scheduled = scale_fleet.runs_block(True, storm=True)
    assert set(scheduled) == {"retention", "integrity", "runner"}
    assert "suspend" not in scheduled["retention"]
    assert scale_fleet.runs_block(False, storm=True)["retention"]["suspend"] is True
    assert scale_fleet.runs_block(False, storm=False) == {}


def test_run_done_waits_for_scheduled_kinds_only() -> None:
    spec = {"retention": {"suspend": True}, "integrity": {}}
    assert not scale.run_done({"spec": spec, "status": {}})
    assert scale.run_done({"spec": spec, "status": {"integrity": {"lastResult": {"result": "Succeeded"}}}})
    assert scale.run_done({"spec": {}, "status": {}})


def test_storage_reads_are_divided_by_the_resyncs_of_that_drivers_resources() -> None:
    resyncs, drivers = [2, 1, 3, 1], ["s3", "gcs", "s3", "local"]
    assert scale.reads_by_driver({"s3": 10, "gcs": 1}, resyncs, drivers) == {"s3": 2.0, "gcs": 1.0, "local": 0.0}


def test_local_files_see_a_rewrite(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("1")
    before = scale_fleet.local_files(tmp_path)
    (tmp_path / "a" / "x").write_text("22")
    assert before != scale_fleet.local_files(tmp_path)
    assert scale_fleet.local_files(None) == {}


def test_concurrency_series_without_resource_labels_are_picked() -> None:
    text = (
        "# TYPE payload_operator_reconciles_in_flight gauge\n"
        "payload_operator_reconciles_in_flight 3.0\n"
        "# TYPE payload_operator_run_slots gauge\n"
        'payload_operator_run_slots{state="busy"} 2.0\n'
        "# TYPE payload_operator_condition gauge\n"
        'payload_operator_condition{resource_name="a",condition="Ready"} 1.0\n'
        "# TYPE payload_operator_active_runs gauge\n"
        'payload_operator_active_runs{resource_name="a"} 1.0\n'
    )
    assert scale_storm.concurrency_samples(text) == {
        "payload_operator_reconciles_in_flight": 3.0,
        "payload_operator_run_slots{state=busy}": 2.0,
    }


def test_results_accumulate_and_a_rerun_replaces_its_namesake(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    scale_table.merge(path, entry("current", 100, rss=100, cpu=1))
    scale_table.merge(path, entry("baseline", 100, rss=200, cpu=10))
    entries = scale_table.merge(path, entry("current", 100, rss=120, cpu=1))
    assert sorted((e["role"], e["report"]["rss_mib"]) for e in entries) == [("baseline", 200), ("current", 120)]


def test_the_table_puts_each_size_beside_its_baseline_with_the_ratio() -> None:
    entries = [entry("current", 100, rss=100, cpu=2), entry("baseline", 100, rss=200, cpu=20)]
    lines = scale_table.table(entries).splitlines()
    assert lines[0] == "| measure | goal | 100 abc1234 | 100 f89946c | ratio |"
    assert "| RSS at rest (MiB) | < 256 | 100 | 200 | 0.50x |" in lines
    assert "| writes at rest (API objects, server, storage, files) | 0 | 0 | 0 | - |" in lines
    assert "| GCS reads per resync |  | - | - | - |" in lines


def test_slope_is_per_hundred_resources_between_the_extremes() -> None:
    entries = [entry("current", n, rss=100 + n / 10, cpu=n / 100) for n in (100, 300, 1000)]
    assert scale_table.slope(entries, "current", scale_table.RSS_REST.read) == 10.0
    assert scale_table.slopes(entries) == [
        "abc1234: RSS at rest +10.0 MiB, peak RSS +10.0 MiB, CPU at rest +1.00 points per 100 resources"
    ]
    assert scale_table.slope(entries[:1], "current", scale_table.RSS_REST.read) is None
    entries[0]["rev"] = "0ld0ld0"
    assert scale_table.slopes(entries)[0].startswith("0ld0ld0 at 100 and abc1234 at 300, 1,000: "), "mixed trees"


def test_goals_are_judged_at_the_largest_fleet_of_this_tree() -> None:
    entries = [entry("current", 100, rss=100, cpu=1), entry("current", 1000, rss=300, cpu=10, writes=1, ready=90)]
    verdicts = scale_table.goals(entries)
    assert verdicts[0].startswith("apply to all Ready at 1,000 resources: 90 s")
    assert [v.rsplit(": ", 1)[1] for v in verdicts] == ["met", "NOT met", "NOT met", "NOT met", "met", "NOT met"]
    assert "CPU at rest per resync interval at 1,000 resources: 1.67 % of one core" in verdicts[4]


def test_cpu_per_resync_interval_spreads_the_window_over_its_resync_rounds() -> None:
    rest = entry("current", 100, rss=100, cpu=6)  # 100 s window holding two rounds of 300 s resyncs
    assert scale_table.CPU_PER_INTERVAL.text(rest) == "1.0"
    assert scale_table.CPU_REST.text(rest) == "6.0"
