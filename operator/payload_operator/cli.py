"""The `payload-operator` command line: run the operator, print the CRD, one-off runs."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from payload_operator import __version__

# Each module registers one subcommand; kept as names so `payload-operator crd` stays fast to start.
SUBCOMMANDS = ("run", "crd", "lifecycle", "retention", "integrity")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="payload-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"payload_operator.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"payload_operator.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
