"""Shard results on their way back: the envelope a shard hands over, and the run's conclusion.

A shard either returns its kind's result or fails (an exception, a failed Job, a deadline); the
envelope says which, so the framework — not each kind — decides what a lost shard means. The result in
the envelope is the kind's typed model (api/results.py), camelCase; a result the model cannot read
makes the shard failed. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from payload_operator.api.results import ResultModel, RunOutcome
from payload_operator.core.run_context import Shard
from payload_operator.scheduler.kinds import RunKind

MAX_ERROR = 300
R = TypeVar("R", bound=ResultModel)


@dataclass(frozen=True)
class ShardOutcome(Generic[R]):
    """One shard's result, or why it has none."""

    index: int
    result: R | None = None
    error: str = ""

    def envelope(self, count: int) -> dict[str, Any]:
        """The JSON a shard hands over (ConfigMap data, in-process result)."""
        body: dict[str, Any] = {"shard": f"{self.index}/{count}", "ok": self.result is not None}
        if self.result is None:
            return body | {"error": self.error}
        return body | {"result": self.result.model_dump(by_alias=True, mode="json", exclude_none=True)}


def succeeded(shard: Shard, result: R) -> ShardOutcome[R]:
    """A shard that finished its work."""
    return ShardOutcome(shard.index, result=result)


def failed(index: int, error: str) -> ShardOutcome[Any]:
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


def parse_envelope(model: type[R], index: int, count: int, text: str) -> ShardOutcome[R]:
    """Shard `index` of `count`'s envelope as read back from its ConfigMap, its result read as `model`;
    anything else is a failed shard."""
    try:
        body = json.loads(text)
    except ValueError:
        return failed(index, "result is not JSON")
    if not isinstance(body, dict):
        return failed(index, "result is not a JSON object")
    try:
        envelope = ShardEnvelope.model_validate(body)
    except ValidationError as exc:
        return failed(index, f"result does not match the envelope schema: {_first_error(exc, 'envelope')}")
    if envelope.shard != f"{index}/{count}":
        return failed(index, f"result is for shard {envelope.shard}, not {index}/{count}")
    if envelope.result is None:
        return failed(index, envelope.error or "shard reported failure")
    try:
        return ShardOutcome(index, result=model.model_validate(envelope.result))
    except ValidationError as exc:
        return failed(index, f"result does not match the {model.__name__} schema: {_first_error(exc, 'result')}")


def _first_error(exc: ValidationError, whole: str) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    return f"{'.'.join(str(part) for part in first['loc']) or whole}: {first['msg']}"


@dataclass(frozen=True)
class Conclusion(Generic[R]):
    """What a finished run amounts to: no result when no shard returned one."""

    outcome: RunOutcome
    message: str
    result: R | None = None
    failed_shards: Mapping[str, str] | None = None


def conclude(kind: RunKind[R], outcomes: Mapping[int, ShardOutcome[R]], shards: int) -> Conclusion[R]:
    """Merge the shards that succeeded; any lost shard makes the run partial, all lost makes it failed."""
    results: list[R] = []
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
        return Conclusion(RunOutcome.FAILED, message, None, lost)
    merged = kind.merge(results)
    verdict, message = kind.outcome(merged)
    if lost:
        message = f"{message}; {len(lost)} of {shards} shards failed: {next(iter(lost.values()))}"
        verdict = RunOutcome.FAILED if verdict is RunOutcome.FAILED else RunOutcome.PARTIALLY_FAILED
    return Conclusion(verdict, message, merged, lost or None)
