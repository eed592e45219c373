"""Shard results on their way back: the envelope a shard hands over, and the run's conclusion.

A shard either returns its kind's result or fails (an exception, a failed Job, a deadline); the
envelope says which, so the framework — not each kind — decides what a lost shard means. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from payload_operator.runs.base import RunKind, Shard

MAX_ERROR = 300


class RunOutcome(StrEnum):
    """How a run ended (also the condition reason and `recentRuns[].result`)."""

    SUCCEEDED = "Succeeded"
    PARTIALLY_FAILED = "PartiallyFailed"
    FAILED = "Failed"


@dataclass(frozen=True)
class ShardOutcome:
    """One shard's result, or why it has none."""

    index: int
    result: dict[str, Any] | None = None
    error: str = ""

    def envelope(self, count: int) -> dict[str, Any]:
        """The JSON a shard hands over (ConfigMap data, in-process result)."""
        body: dict[str, Any] = {"shard": f"{self.index}/{count}", "ok": self.result is not None}
        return body | ({"result": self.result} if self.result is not None else {"error": self.error})


def succeeded(shard: Shard, result: dict[str, Any]) -> ShardOutcome:
    """A shard that finished its work."""
    return ShardOutcome(shard.index, result=result)


def failed(index: int, error: str) -> ShardOutcome:
    """A shard without a result, with a one-line reason."""
    return ShardOutcome(index, error=error[:MAX_ERROR] or "failed")


def parse_envelope(index: int, text: str) -> ShardOutcome:
    """A shard's envelope as read back from its ConfigMap; anything unreadable is a failed shard."""
    try:
        body = json.loads(text)
    except ValueError:
        return failed(index, "result is not JSON")
    if not isinstance(body, dict):
        return failed(index, "result is not a JSON object")
    if body.get("ok") is True and isinstance(body.get("result"), dict):
        return ShardOutcome(index, result=body["result"])
    return failed(index, str(body.get("error") or "shard reported failure"))


@dataclass(frozen=True)
class Conclusion:
    """What a finished run amounts to."""

    outcome: RunOutcome
    message: str
    result: dict[str, Any]


def conclude(kind: RunKind, outcomes: Mapping[int, ShardOutcome], shards: int) -> Conclusion:
    """Merge the shards that succeeded; any lost shard makes the run partial, all lost makes it failed."""
    results: list[Mapping[str, Any]] = []
    lost: dict[str, str] = {}
    for index in range(shards):
        outcome = outcomes.get(index)
        if outcome is not None and outcome.result is not None:
            results.append(outcome.result)
        else:
            lost[str(index)] = outcome.error if outcome is not None else "no result"
    if not results:
        first = next(iter(lost.values()))
        message = first if shards == 1 else f"every shard failed: {first}"
        return Conclusion(RunOutcome.FAILED, message, {"failedShards": lost})
    merged = kind.merge(results)
    reported, message = kind.outcome(merged)
    try:
        verdict = RunOutcome(reported)
    except ValueError:
        verdict = RunOutcome.FAILED
    if lost:
        merged["failedShards"] = lost
        message = f"{message}; {len(lost)} of {shards} shards failed: {next(iter(lost.values()))}"
        verdict = RunOutcome.FAILED if verdict is RunOutcome.FAILED else RunOutcome.PARTIALLY_FAILED
    return Conclusion(verdict, message, merged)


def camelized(value: Any) -> Any:
    """A result with snake_case keys turned camelCase, as Kubernetes status fields are spelled."""
    if isinstance(value, dict):
        return {_camel(str(k)): camelized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camelized(v) for v in value]
    return value


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
