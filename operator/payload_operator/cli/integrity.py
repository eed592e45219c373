"""`payload-operator integrity`: verify size and sha256 of payload objects once, now.

    payload-operator integrity -f eps.yaml [--mode referenced|inventory|both] [--shard I/N] [--json]
    payload-operator integrity --resource NS/NAME --shard I/N --run-id R --report configmap   (the Job form)

Exit codes: 0 every checked object is intact; 1 something is missing or corrupt, or could not be
verified (unreadable objects, references outside the storage, an incomplete history walk); 2 the run
itself failed. With `-f`, the server token comes from DW_TOKEN and storage credentials from each
provider's own environment chain, so `driver: local` with `--mode inventory` needs neither.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from payload_operator.api.results import IntegrityResult, RunOutcome
from payload_operator.api.spec import IntegrityMode, OnCorrupt
from payload_operator.core.run_context import Shard
from payload_operator.scheduler import command
from payload_operator.scheduler.results import ShardOutcome
from payload_operator.tasks.integrity.run import IntegrityRun

_MODES = {mode.value.lower(): mode for mode in IntegrityMode}
_ON_CORRUPT = {choice.value.lower(): choice for choice in OnCorrupt}
COUNTS = ("checked", "ok", "missing", "corrupt", "unreadable", "invalid_references", "malformed_keys", "quarantined")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `integrity` subcommand."""
    parser = subparsers.add_parser(
        "integrity",
        help="verify size and sha256 of payload objects once",
        description="Run one integrity run, as the operator's Jobs do: verify the size and sha256 of referenced "
        "and/or stored payload objects, and report (or quarantine) the damaged ones.",
    )
    command.add_arguments(parser)
    parser.add_argument("--mode", choices=sorted(_MODES), help="override spec.integrity.mode")
    parser.add_argument("--on-corrupt", choices=sorted(_ON_CORRUPT), help="override spec.integrity.onCorrupt")
    parser.set_defaults(func=lambda args: run(parser, args))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run one shard and report it; see the module docstring for exit codes."""
    command.check_arguments(parser, args)
    terminal = command.TerminalProgress(sys.stderr) if sys.stderr.isatty() else None
    kind = IntegrityRun(
        mode=_MODES[args.mode] if args.mode else None,
        on_corrupt=_ON_CORRUPT[args.on_corrupt] if args.on_corrupt else None,
        progress=terminal,
    )
    try:
        outcome = asyncio.run(command.execute(kind, args))
    finally:
        if terminal is not None:
            terminal.done()
    if outcome.result is None:
        print(f"integrity run failed: {outcome.error}", file=sys.stderr)
    if args.json:
        command.print_json(kind, outcome)
    elif outcome.result is not None:
        print(render(outcome.result, args.shard, *kind.outcome(outcome.result)))
    return exit_code(kind, outcome, reported=args.report == "configmap")


def exit_code(kind: IntegrityRun, outcome: ShardOutcome[IntegrityResult], *, reported: bool = False) -> int:
    """0 all intact, 1 damage or gaps to look at, 2 no result (unlike the generic mapping, a run that
    found corrupt objects did its job: it is not a failed run). As a Job, the generic rule: 0 once the
    result is handed over."""
    if outcome.result is None or reported:
        return command.exit_code(kind, outcome, reported=reported)
    return 0 if kind.outcome(outcome.result)[0] is RunOutcome.SUCCEEDED else 1


def render(result: IntegrityResult, shard: Shard, outcome: RunOutcome, message: str) -> str:
    """The human report: outcome, counts, the first bad keys, each with what was expected and found."""
    counts = "  ".join(f"{name.replace('_', ' ')} {getattr(result, name)}" for name in COUNTS)
    lines = [
        f"integrity {result.mode.value} (shard {shard.index}/{shard.count}): {outcome.value}",
        f"  {message}",
        f"  {counts}  duration {result.duration_seconds}s",
    ]
    for entry in result.bad:
        detail = entry.detail
        if entry.problem in ("size", "hash"):
            expected = f"{entry.expected_size} bytes, " if entry.expected_size is not None else ""
            detail = f"expected {expected}sha256 {entry.expected_sha256}; found {entry.actual_size} bytes"
            detail += f", sha256 {entry.actual_sha256}"
        lines.append(f"  {entry.problem:<10} {entry.key}  {detail}".rstrip())
    return "\n".join(lines)
