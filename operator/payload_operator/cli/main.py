"""The `payload-operator` command line: run the operator, print the CRD, one-off runs."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from payload_operator import __version__

# Each module registers one subcommand; kept as names so `payload-operator crd` stays fast to start.
SUBCOMMANDS = ("run", "crd", "lifecycle", "retention", "integrity")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every available subcommand, or just `only` (each pulls in its own SDKs)."""
    parser = argparse.ArgumentParser(prog="payload-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"payload_operator.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"payload_operator.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(chosen if chosen in SUBCOMMANDS else None).parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
