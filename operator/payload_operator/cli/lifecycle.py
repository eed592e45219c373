"""`payload-operator lifecycle`: plan and apply a manifest's lifecycle rules without the operator.

For one-off use and GitOps pipelines. Prints the plan (rules to add, change, keep and remove, foreign
rules preserved) and applies it unless --dry-run; in Sweep mode it runs one sweep instead.
Credentials come from each provider's own environment: boto3's chain; GOOGLE_APPLICATION_CREDENTIALS
or STORAGE_EMULATOR_HOST; AZURE_STORAGE_CONNECTION_STRING; for the Azure management plane
azure-identity's DefaultAzureCredential (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET).
Rule IDs carry the manifest's metadata.uid (derived from namespace/name when absent), so set it to
the cluster object's uid to manage the same rules as the operator.

Exit codes: 0 applied, in sync or planned; 1 refused (a manifest the schema rejects, an unsafe prefix,
too many rules) or in conflict with another resource; 2 failure (storage error, rules rejected by the
provider, read-back differs).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from payload_operator.adapters.bucket_rules.factory import open_rule_store
from payload_operator.adapters.storage.factory import open_store
from payload_operator.api.resource import Resource, load_resource
from payload_operator.api.spec import LifecycleMode
from payload_operator.planning.bucket_rules import (
    OVERLAPS_OTHER_ROOT,
    TOO_MANY_RULES,
    UNSAFE_PREFIX,
    LifecyclePlan,
    PlannedRule,
    lifecycle_mode,
)
from payload_operator.planning.conditions import ConditionUpdate
from payload_operator.reconcile.bucket_rules import CONFLICT, DRIFT_DETECTED, remove_owned_rules, sync_lifecycle
from payload_operator.reconcile.tmp_sweep import sweep_tmp

EXIT_OK, EXIT_REFUSED, EXIT_FAILED = 0, 1, 2
REFUSED_REASONS = frozenset({UNSAFE_PREFIX, OVERLAPS_OTHER_ROOT, TOO_MANY_RULES, CONFLICT})


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `lifecycle` subcommand."""
    parser = subparsers.add_parser(
        "lifecycle",
        help="plan and apply lifecycle rules for temporary prefixes",
        description="Plan and apply, once, the expiration rules of a resource's temporary prefixes on its bucket, "
        "keeping every rule it does not own. It reads the bucket's current rules with the real credentials of "
        "this environment, also with --dry-run.",
    )
    parser.add_argument("-f", "--file", type=Path, required=True, help="ExternalPayloadStorage manifest (- for stdin)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read the bucket's rules (real credentials) and print the plan; write nothing",
    )
    parser.add_argument("--remove", action="store_true", help="remove the rules this resource owns (Native stores)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plan, apply unless --dry-run, report; see the module docstring for exit codes."""
    try:
        resource = load_resource(args.file)
        if resource.spec.lifecycle is None:
            raise ValueError("the manifest has no spec.lifecycle")
        report = _execute(resource, apply=not args.dry_run, remove=args.remove)
    except ValidationError as exc:  # the schema refuses the manifest: nothing was read or written
        return _fail(f"lifecycle refused: invalid manifest: {exc}", EXIT_REFUSED, as_json=args.json)
    except Exception as exc:
        return _fail(f"lifecycle failed: {type(exc).__name__}: {exc}", EXIT_FAILED, as_json=args.json)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    condition = report["condition"]
    if condition["status"] == "True" or condition["reason"] == DRIFT_DETECTED:
        return EXIT_OK
    return EXIT_REFUSED if condition["reason"] in REFUSED_REASONS else EXIT_FAILED


def _fail(message: str, code: int, *, as_json: bool) -> int:
    """One line on stderr, and as JSON on stdout when asked."""
    if as_json:
        print(json.dumps({"error": message}))
    print(message, file=sys.stderr)
    return code


def _execute(resource: Resource, *, apply: bool, remove: bool) -> dict[str, Any]:
    """Run the sync, the removal or a sweep with environment credentials and describe what happened."""
    now = datetime.now(UTC)
    if not remove and lifecycle_mode(resource.spec) is LifecycleMode.SWEEP:
        with closing(open_store(resource.spec, None)) as store:
            swept = sweep_tmp(resource, store, now=now, apply=apply)
        location = f"{store.scheme}://{store.bucket}"
        return {"location": location, "mode": "Sweep", **_condition(swept.condition), "counts": swept.counts}
    rule_store = open_rule_store(resource.spec, None)
    if rule_store is None:
        raise ValueError(f"driver {resource.spec.driver.value} keeps no lifecycle rules here")
    with closing(rule_store):
        use_case = remove_owned_rules if remove else sync_lifecycle
        outcome = use_case(resource, rule_store, now=now, apply=apply)
    report: dict[str, Any] = {"location": rule_store.location, "mode": "Native", "applied": outcome.applied}
    report |= _condition(outcome.condition)
    if outcome.plan is not None:
        report["plan"] = describe(outcome.plan)
    return report


def _condition(condition: ConditionUpdate) -> dict[str, Any]:
    return {"condition": {"status": condition.status.value, "reason": condition.reason, "message": condition.message}}


def describe(plan: LifecyclePlan) -> dict[str, Any]:
    """The plan as JSON: our rules by fate, foreign rules only counted, conflicts and refusals."""

    def entry(rule: PlannedRule, *, full: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {"id": rule.rule_id, "prefix": rule.prefix}
        if full:
            shown |= {"current": rule.current, "desired": rule.desired}
        return shown

    return {
        "add": [entry(r, full=True) for r in plan.add],
        "change": [entry(r, full=True) for r in plan.change],
        "keep": [entry(r, full=False) for r in plan.keep],
        "remove": [entry(r, full=True) for r in plan.remove],
        "foreignPreserved": plan.foreign_count,
        "conflicts": [
            {"prefix": c.prefix, "otherOwner": c.other_owner, "otherRule": c.other_rule} for c in plan.conflicts
        ],
        "refusals": [{"reason": r.reason, "message": r.message} for r in plan.refusals],
    }


def render(report: Mapping[str, Any]) -> str:
    """The human report: the condition line, then one line per rule or count."""
    condition = report["condition"]
    lines = [f"lifecycle {report['mode']} {report['location']}: {condition['reason']}: {condition['message']}"]
    plan = report.get("plan")
    if plan:
        for fate in ("add", "change", "keep", "remove"):
            lines += [f"  {fate:<7} {rule['id']}  {rule['prefix']}" for rule in plan[fate]]
        lines.append(f"  foreign {plan['foreignPreserved']} preserved")
        lines += [f"  conflict {c['prefix']} with {c['otherRule']}" for c in plan["conflicts"]]
        lines += [f"  refused {r['message']}" for r in plan["refusals"]]
    if "counts" in report:
        lines.append("  " + "  ".join(f"{name} {value}" for name, value in report["counts"].items()))
    return "\n".join(lines)
