"""An operator without Azure resources does not pay for the Azure SDKs: loading the operator (its Kopf
handlers and every subcommand) imports no Azure module; they load when an Azure store is opened."""

from __future__ import annotations

import subprocess
import sys

LOADED_AZURE_MODULES = """
import sys
import payload_operator.handlers
from payload_operator.cli.main import build_parser
build_parser()
print(sorted(name for name in sys.modules if name == "azure" or name.startswith("azure.")))
"""


def test_starting_the_operator_loads_no_azure_sdk() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED_AZURE_MODULES], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
