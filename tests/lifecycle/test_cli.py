"""`payload-operator lifecycle` against moto: the plan, --dry-run, --json, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from devkit.services import S3Endpoint

from payload_operator.cli.main import main
from payload_operator.reconcile.bucket_rules import sync_lifecycle
from tests.lifecycle.benches import UID_B, S3Bench

FOREIGN = {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 7}}


@pytest.fixture
def bench(moto_s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> S3Bench:
    """A bucket with one foreign rule; credentials come from the environment, as outside a cluster."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_s3.secret_key)
    created = S3Bench("moto", moto_s3)
    created.put_raw([FOREIGN])
    return created


def manifest(bench: S3Bench, tmp_path: Path, **lifecycle: Any) -> Path:
    block = bench.block()
    del block["credentialsSecretRef"]
    body = {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {"namespace": "shop", "name": "orders"},
        "spec": {
            "server": {"url": "http://dw.invalid", "tokenSecretRef": {"name": "dw-token"}, "namespaces": ["default"]},
            "driver": "s3",
            "s3": block,
            "prefix": "dw",
            "lifecycle": {"tmpPrefixes": ["tmp/"], "expirationDays": 10} | lifecycle,
        },
    }
    path = tmp_path / "eps.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_dry_run_prints_the_plan_as_json_and_writes_nothing(
    bench: S3Bench, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["lifecycle", "-f", str(manifest(bench, tmp_path)), "--dry-run", "--json"])

    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["applied"] is False
    assert report["condition"]["reason"] == "DriftDetected"
    assert [rule["prefix"] for rule in report["plan"]["add"]] == ["dw/tmp/"]
    assert report["plan"]["add"][0]["desired"]["Expiration"] == {"Days": 10}
    assert report["plan"]["foreignPreserved"] == 1
    assert bench.raw() == [FOREIGN]


def test_without_dry_run_the_plan_is_applied(
    bench: S3Bench, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = manifest(bench, tmp_path)

    applied = main(["lifecycle", "-f", str(path)])
    first = capsys.readouterr().out
    again = main(["lifecycle", "-f", str(path), "--json"])

    assert applied == 0
    assert "RulesApplied" in first
    assert "  add     eps-" in first
    assert "  foreign 1 preserved" in first
    assert bench.active_days("dw/tmp/") == [10]
    assert again == 0
    assert json.loads(capsys.readouterr().out)["applied"] is False
    assert FOREIGN in bench.raw()


def test_remove_takes_only_our_rules(bench: S3Bench, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = manifest(bench, tmp_path)
    main(["lifecycle", "-f", str(path)])

    code = main(["lifecycle", "-f", str(path), "--remove"])

    assert code == 0
    assert "RulesRemoved" in capsys.readouterr().out
    assert bench.raw() == [FOREIGN]


def test_a_conflict_exits_1(bench: S3Bench, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sync_lifecycle(bench.resource(name="rival", uid=UID_B), bench.store(), now=datetime.now(UTC))

    code = main(["lifecycle", "-f", str(manifest(bench, tmp_path))])

    assert code == 1
    assert "Conflict" in capsys.readouterr().out


@pytest.mark.parametrize("lifecycle", [{"tmpPrefixes": ["avro/"]}, {"expirationDays": 0}, {"tmpPrefixes": ["tmp"]}])
def test_a_refused_manifest_exits_1_and_writes_nothing(
    bench: S3Bench, tmp_path: Path, capsys: pytest.CaptureFixture[str], lifecycle: dict[str, Any]
) -> None:
    code = main(["lifecycle", "-f", str(manifest(bench, tmp_path, **lifecycle))])

    assert code == 1
    assert "lifecycle refused: invalid manifest" in capsys.readouterr().err
    assert bench.raw() == [FOREIGN]


def test_an_unreachable_store_exits_2(bench: S3Bench, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = manifest(bench, tmp_path)
    path.write_text(path.read_text().replace(bench.endpoint.url, "http://127.0.0.1:9"))

    code = main(["lifecycle", "-f", str(path), "--json"])

    assert code == 2
    assert json.loads(capsys.readouterr().out)["condition"]["reason"] == "StorageUnreachable"
