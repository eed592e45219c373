"""`kubectl eps` on the real node: `verify` asks for an integrity run that runs as two Jobs, follows their
shards to the end, and `status`, `runs` and `bad` then show what it found."""

from __future__ import annotations

import json

import pytest
from devkit.dw_emulator import EmulatedServer
from devkit.node import NodeCluster

from tests.cli.plugin import kubectl_eps
from tests.node.conftest import Deploy, Release, needs_own_node
from tests.node.test_02_job_runs import RUN_TIMEOUT, local_root, seed_local
from tests.support.operator_fixtures import wait_condition

pytestmark = pytest.mark.node


def test_verify_runs_two_job_shards_now_and_the_other_commands_show_the_damage(
    node: NodeCluster, release: Release, deploy: Deploy, dw: EmulatedServer, apps: str
) -> None:
    needs_own_node(node, "Job pods mount a payload directory of this host with hostPath")
    name = "eps-verify"
    root = local_root(dw, name)
    seed_local(dw, name, root)
    integrity = {"schedule": "0 3 1 1 *", "mode": "Inventory"}  # a new resource runs once; then not for a year
    deploy(name, local={"path": str(root)}, integrity=integrity, runner={"shards": 2})
    first = wait_condition(node.cluster, apps, name, "IntegrityVerified", "True", timeout=RUN_TIMEOUT)
    first_run = first["status"]["integrity"]["lastResult"]["runId"]
    victim = sorted(path for path in (root / "avro").rglob("*") if path.is_file())[-1]
    victim.write_bytes(victim.read_bytes() + b"!")
    key = victim.relative_to(root).as_posix()

    done = kubectl_eps(node.cluster, "verify", name, "-n", apps, "--timeout", str(RUN_TIMEOUT), "-o", "json")
    assert done.returncode == 1, done.stderr  # the run found damage
    result = json.loads(done.stdout)
    assert result["runId"] != first_run
    assert (result["result"], result["shards"], result["corrupt"]) == ("Failed", 2, 1)
    assert len(result["jobNames"]) == 2
    assert [entry["key"] for entry in result["bad"]] == [key]
    progress = done.stderr.splitlines()
    assert f"run {result['runId']} started (Job, 2 shard(s))" in progress
    assert any(f"run {result['runId']}: " in line and "/2 shards done" in line for line in progress), progress
    assert progress[-1].endswith(": Failed")

    status = json.loads(kubectl_eps(node.cluster, "status", "-n", apps, "-o", "json").stdout)
    (item,) = [item for item in status["items"] if item["name"] == name]
    assert item["integrity"]["lastRun"]["result"] == "Failed"
    assert next(c for c in item["conditions"] if c["type"] == "IntegrityVerified")["status"] == "False"
    runs = kubectl_eps(node.cluster, "runs", name, "-n", apps)
    assert [line.split()[3] for line in runs.stdout.splitlines()[1:3]] == ["Failed", "Succeeded"]
    bad = kubectl_eps(node.cluster, "bad", name, "-n", apps)
    assert bad.stdout.splitlines()[2].split()[:2] == ["hash", key]
