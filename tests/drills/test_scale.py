"""Drill 4: many resources applied at once all become Ready, and once settled the operator writes nothing.

The test suite runs 40 resources in 10 namespaces; `benchmarks/scale.py` runs the same drill with 300
and records the figures in docs/benchmarks.md ("Scale"). See `devkit/scale.py` for what is
measured and how the quiet window is bounded by counted resyncs rather than by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.faultproxy import FaultProxy
from devkit.operator_process import OperatorProcess
from devkit.services import S3Endpoint
from devkit.values import SECRETS

from devkit import scale
from tests.drills.leaks import assert_no_secrets, gather

# Four resyncs of every resource with nothing changed prove "no writes at rest" within the test's time limit
# on a busy machine too; benchmarks/scale.py watches more.
PLAN = scale.ScalePlan(resources=40, namespaces=10, timer=1.0, resync=10, resyncs=4, settle_timeout=180)


def test_forty_resources_settle_and_then_make_no_writes(
    drill_cluster: Cluster,
    namespaces: Callable[[str], str],
    operator_with: Callable[..., OperatorProcess],
    dw_server: Callable[..., EmulatedServer],
    fault_proxy: Callable[[str], FaultProxy],
    moto_s3: S3Endpoint,
    tmp_path: Path,
) -> None:
    server = dw_server([])
    storage = fault_proxy(moto_s3.url)
    operator = operator_with(**PLAN.env)
    operator.start()

    report = scale.run(drill_cluster, namespaces, server, storage, moto_s3, operator, PLAN, log=print)
    (tmp_path / "scale.json").write_text(report.as_json())
    print(report.as_json())

    assert report.settle_seconds < PLAN.settle_timeout
    assert report.resyncs_per_resource >= PLAN.resyncs
    assert report.api_objects_changed == [], "writes to the API server while nothing changed"
    assert report.server_writes == [], "writes to the Durable Workflow server while nothing changed"
    assert report.storage_writes == [], "writes to storage while nothing changed"
    operator.assert_up()
    listed = sorted({body["metadata"]["namespace"] for body in scale.resources(drill_cluster)})
    assert_no_secrets(gather(drill_cluster, listed, operator.log), SECRETS)
