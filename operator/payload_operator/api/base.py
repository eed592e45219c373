"""Shared model configuration: camelCase on the wire, strict about unknown fields."""

from __future__ import annotations

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

    def to_wire(self) -> dict[str, object]:
        """Dump with camelCase keys, as the API server stores it."""
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)
