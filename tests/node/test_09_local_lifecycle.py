"""`driver: local` with a `lifecycle` block in a chart install: the operator pod mounts the payload directory
(chart values extraVolumes/extraVolumeMounts, docs/lifecycle-permissions.md), so the resource reaches Ready and
its expired temporary objects are swept, while young ones and payloads stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from devkit.dw_emulator import EmulatedServer
from devkit.node import NodeCluster
from devkit.waiting import wait_for

from tests.node.conftest import Deploy, Release, needs_own_node
from tests.node.test_02_job_runs import local_root
from tests.support.operator_fixtures import get_eps, wait_condition

pytestmark = pytest.mark.node

DAY = 86400


def write(path: Path, age_days: float) -> Path:
    """A 1 KiB object last modified `age_days` ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(1024))
    then = time.time() - age_days * DAY
    os.utime(path, (then, then))
    return path


def test_a_local_resource_with_a_lifecycle_block_is_ready_and_its_expired_tmp_objects_are_swept(
    node: NodeCluster, release: Release, deploy: Deploy, dw: EmulatedServer, apps: str
) -> None:
    needs_own_node(node, "the operator pod mounts a payload directory of this host")
    name = "local-sweep"
    root = local_root(dw, name)
    expired = [write(root / "tmp" / f"upload-{n}.part", age_days=20) for n in range(2)]
    young = write(root / "tmp" / "upload-now.part", age_days=0)
    payload = write(root / "avro" / "orders" / "payload.avro", age_days=20)
    (root / "tmp").chmod(0o777)  # the operator runs as UID 65532: it deletes in the directory, as the server's pods do

    deploy(name, local={"path": str(root)}, lifecycle={"tmpPrefixes": ["tmp/"], "expirationDays": 10})
    wait_condition(node.cluster, apps, name, "Ready", "True", timeout=180)
    wait_for(lambda: not any(p.exists() for p in expired), 180, message="the expired tmp objects swept")
    assert young.exists()
    assert payload.exists()

    def swept() -> dict[str, int] | None:
        last: dict[str, int] | None = (get_eps(node.cluster, apps, name)["status"].get("lifecycle") or {}).get(
            "lastSweep"
        )
        return last if last and last.get("deleted") == 2 else None

    counts = wait_for(swept, 120, message="the sweep's counts in status")
    assert counts is not None
    assert (counts["listed"], counts["expired"]) == (3, 2)
