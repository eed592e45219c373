"""Evaluate the Argo CD health check (examples/argocd/health.lua) with a Lua interpreter.

Argo CD runs the script with the resource as the global `obj` and reads the returned {status, message}.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from devkit.procs import in_ci

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "argocd" / "health.lua"
HARNESS = """
obj = {obj}
local hs = dofile({script})
io.write(hs.status, "\\n", hs.message or "", "\\n")
"""


def _lua() -> str:
    for name in ("lua5.4", "lua5.3", "lua5.1", "lua"):
        found = shutil.which(name)
        if found:
            return found
    if in_ci():
        pytest.fail("no Lua interpreter: apt-get install -y lua5.4")
    pytest.skip("no Lua interpreter: apt-get install -y lua5.4")


def _literal(value: Any) -> str:
    """A Lua literal of a JSON-like value (what Argo CD hands the script)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid Lua escapes for these values
    if isinstance(value, list):
        return "{" + ", ".join(_literal(v) for v in value) + "}"
    return "{" + ", ".join(f"[{json.dumps(k)}] = {_literal(v)}" for k, v in value.items()) + "}"


def health(obj: dict[str, Any]) -> tuple[str, str]:
    program = HARNESS.format(obj=_literal(obj), script=json.dumps(str(SCRIPT)))
    proc = subprocess.run([_lua(), "-"], input=program, capture_output=True, text=True, check=True, timeout=10)
    status, message = proc.stdout.split("\n", 1)
    return status, message.rstrip("\n")
