"""Shared model configuration: camelCase on the wire, strict about unknown fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base for every CRD model: camelCase aliases, unknown fields refused, frozen values."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """Dump with camelCase keys, as the API server stores it; empty strings are left out.

        An empty string means "unset" everywhere in this API, and Kubernetes 1.20 as built from Debian's
        sources decodes "" as null and then refuses it against a string schema.
        """
        wire: dict[str, Any] = _without_empty(self.model_dump(by_alias=True, mode="json", exclude_none=True))
        return wire


def _without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v != ""}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value
