"""`kubectl eps`, run through kubectl itself (the plugin found on PATH), on real API servers.

The read commands run on a private API server whose resources' status the test writes through the status
subresource (no operator there to overwrite it), so every figure printed can be checked against what was
written; `verify` runs against the suite's operator and ends in a run that finds a corrupt object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devkit.cluster import Cluster, start_cluster
from devkit.dw_emulator import EmulatedServer
from devkit.waiting import wait_for

from payload_operator.cli.kubectl_eps.kubectl import Kubectl
from payload_operator.cli.kubectl_eps.verify import shards_done
from tests.cli.plugin import kubectl_eps
from tests.support.operator_fixtures import (
    ADMIN_TOKEN,
    CRD,
    GROUP_PATH,
    apply,
    eps_manifest,
    get_eps,
    secret_manifest,
)
from tests.support.tenant import edit_tenant

CRD_NAME = "externalpayloadstorages.payloads.durable-workflow.io"


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def resource(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "server": {"url": "http://dw.invalid", "tokenSecretRef": {"name": "dw-admin"}, "namespaces": ["orders"]},
            "driver": "local",
            "local": {"path": "/srv/payloads"},
            "retention": {"schedule": "@daily"},
            "integrity": {"schedule": "0 3 * * 0"},
        },
    }


def condition(kind: str, status: str, reason: str, message: str = "as the operator wrote it") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-12-01T00:00:00Z",
    }


CORRUPT = {
    "key": "avro/5e/5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "problem": "hash",
    "expectedSha256": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "actualSha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    "expectedSize": 8,
    "actualSize": 5,
}
MISSING = {"key": "avro/9f/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "problem": "missing"}


def status_at(now: datetime) -> dict[str, Any]:
    """Status as the operator writes it, its times around `now` with margins: relative times print the same
    for most of an hour (a busy machine may take that long to reach a test)."""
    return {
        "conditions": [
            condition("Ready", "True", "Ready"),
            condition("PolicySynced", "True", "Synced"),
            condition("StorageReachable", "True", "Available"),
            condition("RetentionSucceeded", "True", "Succeeded"),
            condition("IntegrityVerified", "False", "Failed", "1 missing, 1 corrupt (0 size, 1 hash) of 5 objects"),
        ],
        "namespaces": [{"name": "orders", "driftCorrections": 2}, {"name": "billing", "driftCorrections": 1}],
        "retention": {
            "effectiveSchedule": "0 0 * * *",
            "nextRunTime": stamp(now + timedelta(hours=5, minutes=55)),
            "lastRunTime": stamp(now - timedelta(hours=3)),
            "recentRuns": [
                {
                    "startTime": stamp(now - timedelta(hours=3)),
                    "completionTime": stamp(now - timedelta(hours=3) + timedelta(seconds=42)),
                    "result": "Succeeded",
                    "message": "server passes ok; orphan audit ok: 1 candidate",
                }
            ],
            "lastResult": {
                "runId": "20261207-000000",
                "result": "Succeeded",
                "usage": {
                    "referenced": {"objects": 3, "bytes": 3 << 20},
                    "young": {"objects": 1, "bytes": 2048},
                    "candidate": {"objects": 1, "bytes": 1 << 20},
                    "temporary": {"objects": 4, "bytes": 5 << 10},
                    "quarantined": {"objects": 2, "bytes": 10},
                },
            },
        },
        "integrity": {
            "effectiveSchedule": "0 3 * * 0",
            "nextRunTime": stamp(now + timedelta(days=2, hours=12)),
            "recentRuns": [
                {
                    "startTime": stamp(now - timedelta(hours=2)),
                    "completionTime": stamp(now - timedelta(hours=2) + timedelta(seconds=7)),
                    "result": "Failed",
                    "message": "1 missing, 1 corrupt (0 size, 1 hash) of 5 objects checked (40 bytes)",
                },
                {
                    "startTime": stamp(now - timedelta(days=7)),
                    "completionTime": stamp(now - timedelta(days=7) + timedelta(seconds=5)),
                    "result": "Succeeded",
                    "message": "4 objects checked (32 bytes), 4 ok",
                },
            ],
            "lastResult": {
                "runId": "20261207-041500",
                "result": "Failed",
                "checked": 5,
                "ok": 3,
                "missing": 1,
                "corrupt": 1,
                "bad": [MISSING, CORRUPT],
            },
        },
    }


@pytest.fixture(scope="module")
def quiet_cluster() -> Iterator[Cluster]:
    """An API server with the CRD and no operator: the status a test writes stays as written."""
    with start_cluster() as cluster:
        cluster.kubectl("apply", "--validate=false", "-f", str(CRD))
        cluster.kubectl("wait", "--for=condition=established", "--timeout=60s", f"crd/{CRD_NAME}")
        for namespace in ("workflows", "team-b"):
            cluster.kubectl("create", "namespace", namespace)
        apply(cluster, resource("workflows", "payloads"), resource("team-b", "fresh"))
        cluster.api(
            "PATCH",
            f"{GROUP_PATH}/namespaces/workflows/externalpayloadstorages/payloads/status",
            {"status": status_at(datetime.now(UTC))},
            content_type="application/merge-patch+json",
        )
        yield cluster


def stored(cluster: Cluster) -> dict[str, Any]:
    """The status the fixture wrote, as the API server keeps it."""
    body = cluster.api("GET", f"{GROUP_PATH}/namespaces/workflows/externalpayloadstorages/payloads")
    status: dict[str, Any] = body["status"]
    return status


def test_status_across_namespaces_shows_conditions_runs_drift_and_usage(quiet_cluster: Cluster) -> None:
    shown = kubectl_eps(quiet_cluster, "status", "-A")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "READY",
        "NOT",
        "TRUE",
        "DRIFT",
        "RETENTION",
        "NEXT",
        "INTEGRITY",
        "NEXT",
    ]
    assert lines[1].split() == ["team-b", "fresh", "Unknown", "(NotReconciled)", "-", "0/0", "never", "-", "never", "-"]
    payloads = lines[2].split()
    assert payloads[:5] == ["workflows", "payloads", "True", "IntegrityVerified=False(Failed)", "3/0"]
    assert payloads[5:] == ["Succeeded", "3h", "ago", "in", "5h", "Failed", "2h", "ago", "in", "2d"]
    assert "STORAGE USAGE (last retention run)" in shown.stdout
    usage = lines[-1].split()
    assert usage[:2] == ["workflows", "payloads"]
    assert " ".join(usage[2:]) == "3.0 MiB / 3 2.0 KiB / 1 1.0 MiB / 1 5.0 KiB / 4 10 B / 2 - -"

    as_json = kubectl_eps(quiet_cluster, "status", "-n", "workflows", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    (item,) = json.loads(as_json.stdout)["items"]
    assert (item["namespace"], item["name"], item["ready"]["status"]) == ("workflows", "payloads", "True")
    assert [c["type"] for c in item["conditions"]][-1] == "IntegrityVerified"
    assert item["driftCorrections"] == {"policy": 3, "lifecycle": 0}
    written = stored(quiet_cluster)
    assert item["retention"]["nextRunTime"] == written["retention"]["nextRunTime"]
    assert item["retention"]["lastRun"]["result"] == "Succeeded"
    assert item["integrity"]["lastRun"]["startTime"] == written["integrity"]["recentRuns"][0]["startTime"]
    assert item["integrity"]["active"] is None
    assert item["usage"]["referenced"] == {"objects": 3, "bytes": 3 << 20}


def test_runs_lists_every_kind_newest_first_with_the_last_results(quiet_cluster: Cluster) -> None:
    written = stored(quiet_cluster)
    shown = kubectl_eps(quiet_cluster, "runs", "payloads", "-n", "workflows")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["KIND", "STARTED", "TOOK", "RESULT", "MESSAGE"]
    assert [line.split()[:4] for line in lines[1:4]] == [
        ["integrity", written["integrity"]["recentRuns"][0]["startTime"], "7s", "Failed"],
        ["retention", written["retention"]["recentRuns"][0]["startTime"], "42s", "Succeeded"],
        ["integrity", written["integrity"]["recentRuns"][1]["startTime"], "5s", "Succeeded"],
    ]
    assert "last integrity run 20261207-041500: Failed: checked 5, ok 3, missing 1, corrupt 1" in lines
    as_json = json.loads(kubectl_eps(quiet_cluster, "-n", "workflows", "runs", "payloads", "-o", "json").stdout)
    assert [run["kind"] for run in as_json["runs"]] == ["integrity", "retention", "integrity"]
    assert as_json["lastResults"]["retention"]["usage"]["temporary"] == {"objects": 4, "bytes": 5 << 10}


def test_bad_names_each_key_with_what_was_expected_and_found(quiet_cluster: Cluster) -> None:
    shown = kubectl_eps(quiet_cluster, "bad", "payloads", "--namespace=workflows")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "integrity run 20261207-041500 (Failed): checked 5, ok 3, missing 1, corrupt 1"
    assert lines[2].split() == ["missing", MISSING["key"]]
    assert lines[3].split()[:2] == ["hash", CORRUPT["key"]]
    assert (
        f"expected 8 bytes, sha256 {CORRUPT['expectedSha256']}; found 5 bytes, sha256 {CORRUPT['actualSha256']}"
        in lines[3]
    )
    as_json = json.loads(kubectl_eps(quiet_cluster, "bad", "payloads", "-n", "workflows", "-o", "json").stdout)
    assert [entry["key"] for entry in as_json["bad"]] == [MISSING["key"], CORRUPT["key"]]
    assert as_json["counts"] == {"checked": 5, "ok": 3, "missing": 1, "corrupt": 1}

    never = kubectl_eps(quiet_cluster, "bad", "fresh", "-n", "team-b")
    assert never.stdout.strip() == "team-b/fresh: no integrity run has finished yet"


def test_only_what_the_users_own_rights_allow(quiet_cluster: Cluster) -> None:
    """A tenant with `edit` in team-b sees team-b, is refused elsewhere with kubectl's own words, exit 2."""
    tenant = edit_tenant(quiet_cluster, "team-b")
    own = kubectl_eps(quiet_cluster, "status", "-o", "json", kubeconfig=tenant.kubeconfig)
    assert own.returncode == 0, own.stderr
    assert [item["name"] for item in json.loads(own.stdout)["items"]] == ["fresh"]
    across = kubectl_eps(quiet_cluster, "status", "-A", kubeconfig=tenant.kubeconfig)
    assert across.returncode == 2
    assert "forbidden" in across.stderr.lower()
    assert across.stdout == ""
    other = kubectl_eps(quiet_cluster, "verify", "payloads", "-n", "workflows", kubeconfig=tenant.kubeconfig)
    assert other.returncode == 2
    assert "forbidden" in other.stderr.lower()
    body = quiet_cluster.api("GET", f"{GROUP_PATH}/namespaces/workflows/externalpayloadstorages/payloads")
    assert "annotations" not in body["metadata"] or not any("run-now" in k for k in body["metadata"]["annotations"])


def test_a_context_and_kubeconfig_given_as_flags_are_used(quiet_cluster: Cluster, tmp_path: Path) -> None:
    elsewhere = tmp_path / "empty-kubeconfig"
    elsewhere.write_text("apiVersion: v1\nkind: Config\n")
    contexts = quiet_cluster.kubectl("config", "get-contexts", "-o", "name").stdout.split()
    shown = kubectl_eps(
        quiet_cluster,
        "status",
        "-n",
        "team-b",
        f"--kubeconfig={quiet_cluster.kubeconfig}",
        f"--context={contexts[0]}",
        "-o",
        "json",
        kubeconfig=elsewhere,
    )
    assert shown.returncode == 0, shown.stderr
    assert [item["name"] for item in json.loads(shown.stdout)["items"]] == ["fresh"]
    wrong = kubectl_eps(quiet_cluster, "status", "--context=no-such-context", "-n", "team-b")
    assert wrong.returncode == 2
    assert "no-such-context" in wrong.stderr


def test_progress_counts_the_shards_whose_jobs_finished(quiet_cluster: Cluster) -> None:
    """verify's bar: Jobs of the run that succeeded or failed for good, read with the user's kubectl."""
    for name, status in (("payloads-integrity-r-0", {"succeeded": 1}), ("payloads-integrity-r-1", {"active": 1})):
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": "workflows"},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "runner:test"}]}
                }
            },
        }
        apply(quiet_cluster, job)
        quiet_cluster.api(
            "PATCH",
            f"/apis/batch/v1/namespaces/workflows/jobs/{name}/status",
            {"status": status},
            content_type="application/merge-patch+json",
        )
    kubectl = Kubectl(kubeconfig=str(quiet_cluster.kubeconfig), namespace="workflows", binary=quiet_cluster.kubectl_bin)
    active = {"jobNames": ["payloads-integrity-r-0", "payloads-integrity-r-1", "payloads-integrity-r-2"]}
    assert shards_done(kubectl, active) == 1  # the third Job is not there (yet): not done
    assert shards_done(kubectl, {"jobNames": []}) is None  # in-process: unknown


# ---- verify, with the operator ----


def payload(root: Path, content: bytes, *, named_for: bytes | None = None) -> str:
    """Store `content` under the key of `named_for` (a corrupt object) or of itself; its key."""
    sha = hashlib.sha256(named_for if named_for is not None else content).hexdigest()
    path = root / "avro" / sha[:2] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return f"avro/{sha[:2]}/{sha}"


def test_verify_runs_integrity_now_and_follows_it_to_the_damage_found(
    crd: Cluster, operator: object, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    assert dw_server.local_root is not None
    payload(dw_server.local_root, b"intact payload")
    manifest = eps_manifest(
        kube_namespace,
        "payloads",
        dw_server,
        integrity={"schedule": "0 3 1 1 *", "mode": "Inventory"},
        runner={"type": "InProcess"},
    )
    apply(crd, secret_manifest(kube_namespace, "dw-admin", {"token": ADMIN_TOKEN}), manifest)

    def first_result() -> dict[str, Any] | None:
        result = (get_eps(crd, kube_namespace, "payloads").get("status") or {}).get("integrity", {}).get("lastResult")
        return result if isinstance(result, dict) and result.get("runId") else None

    first = wait_for(first_result, 120, message="the integrity run a new resource starts never finished")
    assert first["result"] == "Succeeded"
    corrupt = payload(dw_server.local_root, b"tampered", named_for=b"original")

    done = kubectl_eps(crd, "verify", "payloads", "-n", kube_namespace, "-o", "json")
    assert done.returncode == 1, done.stderr  # damage found
    result = json.loads(done.stdout)
    assert result["runId"] != first["runId"]
    assert (result["result"], result["checked"], result["corrupt"]) == ("Failed", 2, 1)
    assert [entry["key"] for entry in result["bad"]] == [corrupt]
    progress = done.stderr.splitlines()
    assert progress[0] == f"requested an integrity run of {kube_namespace}/payloads"
    assert f"run {result['runId']} started (InProcess, 1 shard(s))" in progress
    assert progress[-1].startswith(f"run {result['runId']} finished after ")
    assert progress[-1].endswith(": Failed")
    annotations = get_eps(crd, kube_namespace, "payloads")["metadata"].get("annotations") or {}
    assert "payloads.durable-workflow.io/run-now" not in annotations  # the request was answered

    bad = kubectl_eps(crd, "bad", "payloads", "-n", kube_namespace)
    assert bad.returncode == 0, bad.stderr
    assert bad.stdout.splitlines()[2].split()[:2] == ["hash", corrupt]
