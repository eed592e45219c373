"""The locks: what the image and the test venv install is complete, hash-pinned, and what the tests ran against.

requirements.lock is the runtime (the image, the demo, the test venv); requirements-test.lock the test-only
rest; requirements-sdk04.lock the old SDK's venv. scripts/bootstrap.sh installs exactly them (--no-deps,
--require-hashes); `make lock` re-pins them.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
TEST_LOCK = REPO / "requirements-test.lock"
SDK04_LOCK = REPO / "requirements-sdk04.lock"
PACKAGE = REPO / "operator" / "payload_operator"
VENV_TOOLING = {"pip", "setuptools", "wheel"}


def _pins(lock: Path = LOCK) -> dict[str, str]:
    pins = {}
    for match in re.finditer(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", lock.read_text(), flags=re.MULTILINE):
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _all_pins() -> dict[str, str]:
    return {**_pins(LOCK), **_pins(TEST_LOCK)}


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project


def _runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in _project()["dependencies"]]


def _test_requirements() -> list[Requirement]:
    return [Requirement(text) for text in _project()["optional-dependencies"]["test"]]


def _closure(roots: list[Requirement]) -> set[str]:
    """Every distribution the runtime dependencies pull in on this platform, extras followed."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [r for r in roots if r.marker is None or r.marker.evaluate()]
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(key[0])
        for text in md.distribution(req.name).requires or []:
            child = Requirement(text)
            wanted = child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in (req.extras or {""})
            )
            if wanted:
                todo.append(child)
    return names


@pytest.mark.parametrize(
    ("requirements", "pins"),
    [(_runtime_requirements, _pins), (_test_requirements, _all_pins)],
    ids=["runtime deps in requirements.lock", "test deps in one of the locks"],
)
def test_every_dependency_is_pinned_within_its_range(
    requirements: Callable[[], list[Requirement]], pins: Callable[[], dict[str, str]]
) -> None:
    pinned = pins()
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req} is not pinned: run make lock"
        assert req.specifier.contains(pinned[name], prereleases=True), f"{name}=={pinned[name]} outside {req}"


def test_the_lock_is_closed_and_pins_what_the_tests_run() -> None:
    pins = _pins()
    needed = _closure(_runtime_requirements())
    assert needed - set(pins) == set(), "dependencies the image would lack: run make lock"
    drift = {n: (pins[n], md.version(n)) for n in needed if md.version(n) != pins[n]}
    assert drift == {}, "lock differs from the tested venv (lock, venv): run make lock"


def test_the_test_lock_holds_only_what_the_runtime_lock_does_not() -> None:
    assert set(_pins(LOCK)) & set(_pins(TEST_LOCK)) == set(), "a package pinned twice: run make lock"


def test_the_locks_together_are_closed_over_the_test_dependencies() -> None:
    needed = _closure(_runtime_requirements() + _test_requirements())
    assert needed - set(_all_pins()) == set(), "dependencies the test venv would lack: run make lock"


def test_the_venv_is_exactly_the_locks_package_for_package() -> None:
    """What bootstrap installs (this venv) equals the union of the two locks, versions included."""
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in md.distributions()
        if canonicalize_name(dist.metadata["Name"]) not in VENV_TOOLING | {"payload-operator"}
    }
    assert installed == _all_pins(), "the venv differs from the locks: run make bootstrap (or make lock)"


def test_the_old_sdk_lock_pins_the_sdk_version_the_tests_name() -> None:
    pins = _pins(SDK04_LOCK)
    assert pins["durable-workflow"] == "0.4.53"
    assert {"boto3", "google-cloud-storage", "azure-storage-blob"} <= set(pins)


@pytest.mark.parametrize("lock", [LOCK, TEST_LOCK, SDK04_LOCK], ids=lambda p: p.name)
def test_every_pin_carries_sha256_hashes(lock: Path) -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text())
    for block in blocks:
        if re.match(r"^[A-Za-z0-9._-]+==", block):
            assert "--hash=sha256:" in block, f"unhashed pin in {lock.name}: {block.splitlines()[0]}"


def _third_party_imports() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("payload_operator", "__future__")}


def test_every_module_the_operator_imports_is_installed_by_the_lock() -> None:
    providers = md.packages_distributions()
    locked = set(_pins())
    missing = {
        module: providers.get(module, ["<no distribution>"])
        for module in _third_party_imports()
        if not {canonicalize_name(d) for d in providers.get(module, [])} & locked
    }
    assert missing == {}, "imported by the operator but not in requirements.lock (declare them in pyproject.toml)"
