"""`payload-operator crd`: print the CustomResourceDefinition generated from the models."""

from __future__ import annotations

import argparse
import sys

from payload_operator.api.crd import crd_yaml


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `crd` subcommand."""
    parser = subparsers.add_parser(
        "crd",
        help="print the CRD (YAML) generated from the pydantic models",
        description="Print the ExternalPayloadStorage CustomResourceDefinition (YAML), generated from the pydantic "
        "models that are the schema's single source (`make crd` writes it to crds/ and the chart).",
    )
    parser.set_defaults(func=run)


def run(_args: argparse.Namespace) -> int:
    """Write the CRD to stdout."""
    sys.stdout.write(crd_yaml())
    return 0
