"""Print the distributions installed in this interpreter's venv that none of the given locks pins.

scripts/bootstrap.sh uninstalls them, so a venv made from an older lock converges on the current locks
(pip install -r only adds and re-versions). The venv's own tooling (pip, setuptools, wheel) and
editable installs (the project itself) are left alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from split_lock import normalized, pinned_names  # scripts/ is this script's sys.path[0]

TOOLING = {"pip", "setuptools", "wheel"}


def installed(python: str) -> set[str]:
    listing = subprocess.run(
        [python, "-m", "pip", "list", "--exclude-editable", "--format=json", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {normalized(entry["name"]) for entry in json.loads(listing.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("locks", nargs="+", type=Path)
    args = parser.parse_args()
    wanted = set().union(*(pinned_names(lock.read_text()) for lock in args.locks)) | TOOLING
    print(" ".join(sorted(installed(sys.executable) - wanted)))


if __name__ == "__main__":
    main()
