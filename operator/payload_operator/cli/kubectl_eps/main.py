"""`kubectl eps`: which ExternalPayloadStorages are unhealthy, when each last ran, what it found, which keys
are bad, and an integrity run on demand. Installed as the console script `kubectl-eps`, so kubectl finds it.

    kubectl eps status [-A | -n NS]      conditions, last and next runs, drift corrections, storage usage
    kubectl eps runs NAME                run history with results
    kubectl eps bad NAME                 the bad keys of the last integrity run
    kubectl eps verify NAME              an integrity run now, followed to its end

Every command takes `-o json`, `--kubeconfig` and `--context` (kubectl does not pass its own flags to a
plugin) and uses the user's kubectl, so their credentials and RBAC, nothing else.
Exit codes: 0 done; 1 (`verify`) the run found damage or could not verify everything; 2 an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from payload_operator.cli.kubectl_eps import views
from payload_operator.cli.kubectl_eps.kubectl import Kubectl, KubectlError
from payload_operator.cli.kubectl_eps.verify import KIND, VerifyError, verify


def build_parser() -> argparse.ArgumentParser:
    """The plugin's arguments; connection flags are accepted before or after the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="kubeconfig file (default: $KUBECONFIG)")
    common.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context")
    common.add_argument("-n", "--namespace", default=argparse.SUPPRESS, help="namespace (default: the context's)")
    common.add_argument("-o", "--output", choices=["text", "json"], default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="kubectl eps", description=__doc__.split("\n\n")[0], parents=[common])
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", parents=[common], help="every resource's health, runs and usage")
    status.add_argument("-A", "--all-namespaces", action="store_true", help="across every namespace")
    for name, text in (
        ("runs", "run history with results"),
        ("bad", "the bad keys of the last integrity run"),
        ("verify", "an integrity run now, followed to its end"),
    ):
        command = commands.add_parser(name, parents=[common], help=text)
        command.add_argument("name", help="the ExternalPayloadStorage")
    commands.choices["verify"].add_argument(
        "--timeout", type=float, default=1800.0, help="seconds to follow the run (default 1800; it goes on after)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `kubectl-eps`; returns the exit code."""
    args = build_parser().parse_args(argv)
    kubectl = Kubectl(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        namespace=getattr(args, "namespace", None),
    )
    as_json = getattr(args, "output", "text") == "json"
    now = datetime.now(UTC)
    try:
        code, document, text = _run(args, kubectl, now)
    except (KubectlError, VerifyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(document, indent=2) if as_json else text)
    return code


def _run(args: argparse.Namespace, kubectl: Kubectl, now: datetime) -> tuple[int, Any, str]:
    """(exit code, the JSON document, the text) of one command."""
    if args.command == "status":
        summaries = [views.summary(body) for body in kubectl.resources(all_namespaces=args.all_namespaces)]
        if not summaries:
            return 0, {"items": []}, "no ExternalPayloadStorage found"
        return 0, {"items": summaries}, views.status_text(summaries, now)
    if args.command == "runs":
        runs = views.history(kubectl.resource(args.name))
        return 0, runs, views.history_text(runs, now)
    if args.command == "bad":
        bad = views.bad_keys(kubectl.resource(args.name))
        return 0, bad, views.bad_text(bad)
    body = verify(kubectl, args.name, timeout=args.timeout)
    result = views.last_result(body, KIND)
    report = views.bad_keys(body)
    code = 0 if result.get("result") == "Succeeded" else 1
    return code, result, views.bad_text(report)
