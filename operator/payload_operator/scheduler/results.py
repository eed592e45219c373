"""Shard results on their way back: the envelope a shard hands over, and the run's conclusion.

A shard either returns its kind's result or fails (an exception, a failed Job, a deadline); the
envelope says which, so the framework — not each kind — decides what a lost shard means. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from payload_operator.api.status import RunOutcome
from payload_operator.core.run_context import Shard
from payload_operator.scheduler.kinds import RunKind

MAX_ERROR = 300


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


class ShardEnvelope(BaseModel):
    """The typed shape of a shard's envelope (what `ShardOutcome.envelope` writes); nothing else is a result."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    shard: Annotated[str, Field(pattern=r"^[0-9]{1,2}/[0-9]{1,2}$")]
    ok: bool
    result: dict[str, JsonValue] | None = None
    error: Annotated[str, Field(max_length=MAX_ERROR)] | None = None

    @model_validator(mode="after")
    def _result_or_error(self) -> ShardEnvelope:
        if self.ok != (self.result is not None) or (not self.ok and self.error is None):
            raise ValueError("ok: true comes with a result, ok: false with an error")
        return self


def parse_envelope(index: int, count: int, text: str) -> ShardOutcome:
    """Shard `index` of `count`'s envelope as read back from its ConfigMap; anything else is a failed shard."""
    try:
        body = json.loads(text)
    except ValueError:
        return failed(index, "result is not JSON")
    if not isinstance(body, dict):
        return failed(index, "result is not a JSON object")
    try:
        envelope = ShardEnvelope.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "envelope"
        return failed(index, f"result does not match the envelope schema: {where}: {first['msg']}")
    if envelope.shard != f"{index}/{count}":
        return failed(index, f"result is for shard {envelope.shard}, not {index}/{count}")
    if envelope.result is not None:
        return ShardOutcome(index, result=dict(envelope.result))
    return failed(index, envelope.error or "shard reported failure")


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
