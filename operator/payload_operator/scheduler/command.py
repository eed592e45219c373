"""What every run kind's command line shares: where the resource and its secrets come from, where results go.

Two ways in. From a manifest (`-f eps.yaml`), outside any cluster: the server token comes from
DW_TOKEN and storage credentials from each provider's own environment chain. From the cluster
(`--resource ns/name`), as the operator's Jobs run it: the resource and its Secrets are read with the
pod's service account (or KUBECONFIG), and `--report configmap --run-id R` hands the shard's result
envelope back to the operator in a ConfigMap owned by the shard's Job.

Exit codes: 0 the run succeeded, 1 it finished with problems to look at, 2 it failed. A shard that
handed its result over (`--report configmap`) exits 0 whatever the result says: the operator reports it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from payload_operator.adapters import kube_login
from payload_operator.adapters.kube import KubeClient, KubeError
from payload_operator.adapters.run_context import resolve_context
from payload_operator.adapters.tenancy import TenantPolicyDenied, admission_for
from payload_operator.api.resource import Resource, load_resource, resource_from_body
from payload_operator.api.results import RunOutcome
from payload_operator.api.spec import API_GROUP, API_VERSION, PLURAL
from payload_operator.core.config import OperatorConfig
from payload_operator.core.run_context import RunContext, Shard
from payload_operator.reconcile.published import owner_reference
from payload_operator.scheduler import job_manifest as jobs
from payload_operator.scheduler.kinds import RunKind
from payload_operator.scheduler.results import R, ShardOutcome, failed, succeeded

log = logging.getLogger(__name__)

TOKEN_ENV = "DW_TOKEN"
EXIT_CODES = {RunOutcome.SUCCEEDED: 0, RunOutcome.PARTIALLY_FAILED: 1, RunOutcome.FAILED: 2}
PROGRESS_INTERVAL = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every run kind takes."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--file", type=Path, help="ExternalPayloadStorage manifest (- for stdin)")
    source.add_argument(
        "--resource", metavar="NAMESPACE/NAME", help="read the resource and its Secrets from Kubernetes"
    )
    parser.add_argument("--shard", type=Shard.parse, default=Shard(), metavar="I/N", help="run shard I of N (0-based)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--run-id", help="the run this shard belongs to (set by the operator's Jobs)")
    parser.add_argument(
        "--report",
        choices=("stdout", "configmap"),
        default="stdout",
        help="configmap: also hand the result to the operator (needs --resource and --run-id)",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse combinations that cannot work, before anything runs."""
    if args.report == "configmap" and not (args.resource and args.run_id):
        parser.error("--report configmap needs --resource and --run-id")


def connect() -> KubeClient:
    """A Kubernetes client from the pod's service account, else KUBECONFIG, as the operator itself logs in."""
    import kopf  # only Job pods log in; one-off CLI runs never pay for importing the framework

    settings = kopf.OperatorSettings()
    credentials = kube_login.login(settings)
    if credentials is None:
        raise KubeError("no Kubernetes credentials: neither a service account nor a kubeconfig")
    return KubeClient.from_connection(
        credentials.connection, token_file=credentials.token_file, pinned_secrets=OperatorConfig().pinned_secrets
    )


async def fetch_resource(kube: KubeClient, reference: str) -> tuple[Resource, dict[str, Any]]:
    """The resource named "namespace/name", parsed, with its raw body (for owner references)."""
    namespace, _, name = reference.partition("/")
    if not namespace or not name:
        raise ValueError(f"--resource {reference!r}: want NAMESPACE/NAME")
    body = await kube.call("GET", f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{namespace}/{PLURAL}/{name}")
    return resource_from_body(body), body


async def _executed(kind: RunKind[R], context: RunContext) -> ShardOutcome[R]:
    try:
        return succeeded(context.shard, await kind.execute(context))
    except Exception as exc:  # the shard failed: hand back why, in one line
        log.debug("%s shard failed", kind.name, exc_info=True)
        return failed(context.shard.index, f"{type(exc).__name__}: {exc}")


async def execute(kind: RunKind[R], args: argparse.Namespace, *, dry_run: bool = False) -> ShardOutcome[R]:
    """Run one shard as the arguments say, reporting to a ConfigMap when asked; never raises for run failures."""
    shard: Shard = args.shard
    if args.file is not None:
        try:
            resource = load_resource(args.file)
        except (OSError, ValueError) as exc:
            return failed(shard.index, f"{args.file}: {exc}")
        context = RunContext(resource, os.environ.get(TOKEN_ENV) or None, None, shard, dry_run=dry_run)
        return await _executed(kind, context)
    kube = connect()
    try:
        try:
            resource, body = await fetch_resource(kube, args.resource)
            context = await resolve_context(kube, resource, shard, admission_for(OperatorConfig()), dry_run=dry_run)
        except (KubeError, ValueError, TenantPolicyDenied) as exc:
            return failed(shard.index, f"{type(exc).__name__}: {exc}")
        outcome = await _executed(kind, context)
        if args.report == "configmap":
            await write_result(kube, resource, body, kind.name, run_id=args.run_id, shard=shard, outcome=outcome)
        return outcome
    finally:
        await kube.aclose()


async def write_result(
    kube: KubeClient,
    resource: Resource,
    body: dict[str, Any],
    kind: str,
    *,
    run_id: str,
    shard: Shard,
    outcome: ShardOutcome[Any],
) -> None:
    """Hand the shard's envelope to the operator, owned by the shard's Job (by the resource without one).

    The pod knows its Job's UID from the downward API (jobs.JOB_UID_ENV); only a result owned by that
    UID counts for the operator. Run by hand, the resource owns the result and the operator ignores it.
    """
    job = jobs.job_name(resource, kind, run_id, shard)
    job_uid = os.environ.get(jobs.JOB_UID_ENV) or os.environ.get(jobs.LEGACY_JOB_UID_ENV)
    owner = jobs.job_owner_reference(job, job_uid) if job_uid else owner_reference(body)
    configmap = jobs.result_configmap(
        resource, kind, run_id, shard, owner=owner, envelope=outcome.envelope(shard.count)
    )
    await kube.apply_owned(configmap)


def exit_code(kind: RunKind[R], outcome: ShardOutcome[R], *, reported: bool = False) -> int:
    """0, 1 or 2 (see the module docstring); 0 for a shard that handed its result to the operator.

    As a Job (`--report configmap`) the verdict travels in the result: status, Events and metrics say
    what was found. A non-zero exit there would only mark the Job Failed (BackoffLimitExceeded) and page
    whoever watches failed Jobs for damage already reported, so only a shard without a result fails its Job.
    """
    if outcome.result is None:
        return EXIT_CODES[RunOutcome.FAILED]
    if reported:
        return EXIT_CODES[RunOutcome.SUCCEEDED]
    return EXIT_CODES[kind.outcome(outcome.result)[0]]


def print_json(kind: RunKind[R], outcome: ShardOutcome[R], stream: TextIO = sys.stdout) -> None:
    """The machine-readable report: outcome, message and the result in its status spelling (or the error)."""
    if outcome.result is None:
        document: dict[str, Any] = {"outcome": RunOutcome.FAILED.value, "error": outcome.error}
    else:
        status, message = kind.outcome(outcome.result)
        result = outcome.result.model_dump(by_alias=True, mode="json", exclude_none=True)
        document = {"outcome": status.value, "message": message, **result}
    stream.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


class TerminalProgress:
    """One self-overwriting status line on a terminal, at most five times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self.stream.write(f"\r{text}\x1b[K")
            self.stream.flush()

    def done(self) -> None:
        """Leave the line so the report starts on a fresh one."""
        self.stream.write("\r\x1b[K")
        self.stream.flush()
