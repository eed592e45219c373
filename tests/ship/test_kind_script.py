"""scripts/kind-e2e.sh skips visibly without Docker, refuses to half-run without kind, and installs the tenant
policy its smoke resource needs, then waits for that resource to be Ready."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from payload_operator.adapters.tenancy import Admission
from payload_operator.api.resource import resource_from_body
from payload_operator.planning.tenancy import TenantPolicy

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kind-e2e.sh"


def _stub(tmp_path: Path, name: str, code: int) -> Path:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\nexit {code}\n")
    path.chmod(0o755)
    return path


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)], env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def test_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, timeout=30)


def test_without_a_docker_daemon_it_skips_visibly_and_succeeds(tmp_path: Path) -> None:
    proc = _run(DOCKER=str(_stub(tmp_path, "docker", 1)))
    assert proc.returncode == 0
    assert "SKIP" in proc.stderr
    assert "Docker daemon" in proc.stderr


def test_with_docker_but_without_kind_it_fails(tmp_path: Path) -> None:
    proc = _run(DOCKER=str(_stub(tmp_path, "docker", 0)), KIND=str(tmp_path / "no-kind"))
    assert proc.returncode == 1
    assert "kind" in proc.stderr


# What the script's variables hold on a kind cluster, to read its values file and smoke resource as kubectl would.
KIND_VARIABLES = {
    "GATEWAY": "172.18.0.1",
    "DW_PORT": "18080",
    "PAYLOADS": "/tmp/tmp.kind/payloads",
    "SMOKE_NS": "payload-smoke",
    "WORK": "/tmp/tmp.kind",
}


def _heredoc(opening: str) -> dict[str, Any]:
    """The YAML of the script's heredoc that follows `opening`, with the script's variables filled in."""
    text = SCRIPT.read_text()
    body = text.split(opening, 1)[1].split("\nEOF\n", 1)[0]
    for name, value in KIND_VARIABLES.items():
        body = body.replace(f"${name}", value)
    document: dict[str, Any] = yaml.safe_load(body)
    return document


def test_the_smoke_resource_is_admitted_by_the_values_the_script_installs_and_refused_without_them() -> None:
    values = _heredoc('cat >"$WORK/values.yaml" <<EOF\n')
    smoke = resource_from_body(_heredoc("kubectl apply -f - <<EOF\n"))
    granted = Admission(TenantPolicy.model_validate(values["tenantPolicy"]), "payload-system")
    assert asyncio.run(granted.violations(smoke)) == []
    refused = asyncio.run(Admission(TenantPolicy(), "payload-system").violations(smoke))
    assert {violation.field for violation in refused} >= {"spec.local.path"}
    text = SCRIPT.read_text()
    assert '-f "$WORK/values.yaml"' in text, "the values file reaches the chart install"
    assert "durable-workflow.invalid" not in text, "the smoke server is one the pod can reach"


def test_the_smoke_check_waits_for_ready_true_and_a_ready_operator_pod() -> None:
    text = SCRIPT.read_text()
    assert """{.status.conditions[?(@.type=="Ready")].status}')" = True""" in text
    assert 'poll 180 "Ready=True on smoke" ready' in text
    assert "{.status.containerStatuses[0].ready}" in text
