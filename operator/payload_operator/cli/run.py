"""`payload-operator run`: the operator itself (Kopf), with our handlers."""

from __future__ import annotations

import argparse

import kopf


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="run the operator",
        description="Run the operator (Kopf): watch ExternalPayloadStorage resources and keep their server policies, "
        "published objects, lifecycle rules and scheduled runs true. The cluster comes from the in-cluster "
        "ServiceAccount or $KUBECONFIG; settings from PAYLOAD_OPERATOR_* variables (docs/operating.md).",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch only these namespaces")
    parser.add_argument(
        "--log-format", choices=["plain", "full", "json"], default="full", help="log lines (json: for log collectors)"
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging (never includes secret values)")
    parser.add_argument("--liveness", default="http://0.0.0.0:8081/healthz", help="Kopf liveness endpoint URL")
    parser.add_argument(
        "--readiness",
        default="",
        help="readiness endpoint URL, e.g. http://0.0.0.0:8082/readyz: not ready while the Kubernetes API is "
        "unreachable (PAYLOAD_OPERATOR_API_CONTACT_MAX_AGE); default: not served",
    )
    parser.add_argument("--standalone", action="store_true", help="no peering (single replica)")
    parser.add_argument("--priority", type=int, default=0, help="peering priority when several replicas run")
    parser.add_argument("--peering", default="payload-operator", help="peering object name")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Configure logging and hand over to Kopf until stopped."""
    import payload_operator.handlers  # noqa: F401 - registers the handlers

    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()])
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        standalone=args.standalone,
        priority=args.priority,
        peering_name=None if args.standalone else args.peering,  # a name makes peering mandatory in Kopf
        liveness_endpoint=args.liveness or None,
        memo=kopf.Memo(readiness_endpoint=args.readiness),
    )
    return 0
