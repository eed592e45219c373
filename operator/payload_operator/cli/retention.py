"""`payload-operator retention`: one retention run (server passes and orphan audit), now.

    payload-operator retention -f eps.yaml [--dry-run] [--json] [--shard I/N]
    payload-operator retention --resource NS/NAME --shard I/N --run-id R --report configmap   (the Job form)

`--dry-run` reads the server's backlog without asking for passes, and never deletes an orphan. Every
deleted object key is logged on stderr. Exit codes: 0 succeeded, 1 finished with problems (partial
server passes, an audit that was skipped as unsafe, deletion refused), 2 the run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import BaseModel

from payload_operator.api.results import (
    AuditStatus,
    OrphanAuditResult,
    PassesStatus,
    RetentionResult,
    RunOutcome,
    ServerPassesResult,
)
from payload_operator.core.run_context import Shard
from payload_operator.scheduler import command
from payload_operator.tasks.retention.run import RetentionRun

PASS_FIELDS = ("runs_pruned", "runs_skipped", "runs_failed", "payloads_deleted", "expired_remaining", "passes")
CLEANUP_FIELDS = ("cleanup_objects_deleted", "cleanup_blocked", "cleanup_backlog")
ORPHAN_FIELDS = ("references", "listed", "referenced", "young", "candidates", "candidate_bytes", "deleted", "spared")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `retention` subcommand."""
    parser = subparsers.add_parser(
        "retention",
        help="run the server's retention passes and the orphan audit once",
        description="Run one retention run, as the operator's Jobs do: the server's retention passes, then the "
        "orphan audit (deleting only what spec.retention.orphanAudit allows and proves unreferenced).",
    )
    command.add_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="no passes, no deletions: report only")
    parser.set_defaults(func=lambda args: run(parser, args))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run one shard and report it; see the module docstring for exit codes."""
    command.check_arguments(parser, args)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would bury the deletions
    progress = command.TerminalProgress(sys.stderr) if sys.stderr.isatty() else None
    kind = RetentionRun(progress=progress)
    try:
        outcome = asyncio.run(command.execute(kind, args, dry_run=args.dry_run))
    finally:
        if progress is not None:
            progress.done()
    if args.json:
        command.print_json(kind, outcome)
    elif outcome.result is None:
        print(f"retention run failed: {outcome.error}")
    else:
        print(render(outcome.result, args.shard, *kind.outcome(outcome.result)))
    return command.exit_code(kind, outcome, reported=args.report == "configmap")


def _row(section: BaseModel, fields: tuple[str, ...]) -> str:
    return "  ".join(f"{name.replace('_', ' ')} {getattr(section, name)}" for name in fields)


def render(result: RetentionResult, shard: Shard, outcome: RunOutcome, message: str) -> str:
    """The human report: outcome line, then one line per section, the first candidate keys, and usage."""
    passes, orphans = result.server_passes or ServerPassesResult(), result.orphans or OrphanAuditResult()
    lines = [f"retention (shard {shard.index}/{shard.count}{', dry run' if result.dry_run else ''}): {outcome.value}"]
    lines.append(f"  {message}")
    if passes.status not in (PassesStatus.DISABLED, PassesStatus.OTHER_SHARD):
        lines.append(f"  server passes [{passes.status.value}]  {_row(passes, PASS_FIELDS)}")
        if passes.cleanup_passes:
            lines.append(f"  upload cleanup  {_row(passes, CLEANUP_FIELDS)}")
        lines += [f"    {reason}" for reason in [*passes.errors, *passes.reasons]]
    if orphans.status is not AuditStatus.DISABLED:
        lines.append(f"  orphan audit [{orphans.status.value}]  {_row(orphans, ORPHAN_FIELDS)}")
        if orphans.reason:
            lines.append(f"    {orphans.reason}")
        lines += [f"    candidate {key}" for key in orphans.sample]
        lines += [f"    {failure}" for failure in orphans.failures]
    if result.usage is not None and result.usage.figures():
        figures = result.usage.figures().items()
        lines.append("  usage  " + "  ".join(f"{cls.value} {f.objects} objects {f.bytes} bytes" for cls, f in figures))
    return "\n".join(lines)
