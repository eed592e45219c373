"""Usable CPUs: a container's CPU limit (cgroup v2 or v1) caps what the process may run on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from payload_operator.core.cpus import usable_cpus

AFFINITY = len(os.sched_getaffinity(0))


def v1(root: Path, quota: str, period: str = "100000") -> Path:
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return root


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("100000 100000", 1), ("50000 100000", 1), ("max 100000", AFFINITY), ("1000000 100000", AFFINITY)],
)
def test_a_cgroup_v2_limit_rounds_up_and_never_exceeds_the_cpus_the_process_may_run_on(
    tmp_path: Path, cpu_max: str, expected: int
) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    assert usable_cpus(tmp_path) == expected


def test_a_cgroup_v1_quota_counts_and_minus_one_means_no_limit(tmp_path: Path) -> None:
    limited, unlimited = tmp_path / "limited", tmp_path / "unlimited"
    limited.mkdir()
    unlimited.mkdir()
    assert usable_cpus(v1(limited, "150000")) == min(2, AFFINITY)
    assert usable_cpus(v1(unlimited, "-1")) == AFFINITY


def test_no_cgroup_files_leave_the_cpus_the_process_may_run_on(tmp_path: Path) -> None:
    assert usable_cpus(tmp_path / "absent") == AFFINITY
