"""The ExternalPayloadStorage API: pydantic models that are the single source of the CRD."""

from payload_operator.api.spec import (
    API_GROUP,
    API_VERSION,
    KIND,
    PLURAL,
    ExternalPayloadStorageSpec,
)

__all__ = ["API_GROUP", "API_VERSION", "KIND", "PLURAL", "ExternalPayloadStorageSpec"]
