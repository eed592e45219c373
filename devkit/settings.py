"""The one source of settings for every operator the tests, `make demo` and the benchmarks start.

Short, injected intervals: the production code path, just faster (no test-only branches). Callers that need
another pace or policy (the demo, the scale drill) override single variables on top.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from typing import Any

from devkit.procs import REPO_ROOT

# The admin's tenant policy of every operator under test: the suite's servers (moto, Ceph RGW, Azurite, the
# GCS emulator, the server emulator) all listen on loopback and its payload roots are temporary directories,
# which the default policy refuses (tests/drills/test_tenancy.py proves that). Ambient credentials stand for
# the emulators' environment (STORAGE_EMULATOR_HOST, AZURE_STORAGE_CONNECTION_STRING, AWS_* variables).
TEST_TENANT_POLICY: dict[str, Any] = {
    "ambientCredentialsNamespaces": ["*"],
    "endpoints": [{"hosts": ["127.0.0.1", "localhost", "::1"], "ambientCredentials": True}],
    "localRoots": [{"path": tempfile.gettempdir()}, {"path": str(REPO_ROOT / ".work")}],
    "inProcessNamespaces": ["*"],
    "maxConcurrency": 256,
}


def operator_env(*, timer: float = 1.0, tenant_policy: Mapping[str, Any] = TEST_TENANT_POLICY) -> dict[str, str]:
    """PAYLOAD_OPERATOR_* variables of an operator under test: `timer` seconds between ticks, fast backoff."""
    return {
        "PAYLOAD_OPERATOR_TIMER_INTERVAL": f"{timer:g}",
        "PAYLOAD_OPERATOR_BACKOFF_BASE": "1",
        "PAYLOAD_OPERATOR_BACKOFF_MAX": "4",
        "PAYLOAD_OPERATOR_DELETION_ATTEMPTS": "3",
        "PAYLOAD_OPERATOR_DELETION_RETRY_DELAY": "1",
        "PAYLOAD_OPERATOR_TENANT_POLICY": json.dumps(dict(tenant_policy)),
    }


OPERATOR_ENV = operator_env()
