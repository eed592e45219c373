"""What cluster-info tells a run about each namespace: its server generation, and whether the server
advertises a payload reference schema at all.

Both the orphan audit and integrity's Referenced mode read it before they trust a history walk: a
server without the schema (the captured Gen A server, contract §12) may return offloaded payloads
inline, so a walk that finds no reference proves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from payload_operator.adapters.history import GEN_A_SCHEMA, GEN_B_SCHEMA
from payload_operator.adapters.server import ServerClient, ServerError
from payload_operator.api.status import ServerGeneration
from payload_operator.planning.policy import detect_generation


@dataclass(frozen=True)
class Discovery:
    """What cluster-info says about one namespace."""

    generation: ServerGeneration
    advertises_references: bool


def discovered(cluster_info: Mapping[str, Any]) -> Discovery:
    """Generation, and whether cluster-info's storage block names a payload reference schema."""
    block = cluster_info.get("namespace")
    storage = block.get("external_payload_storage") if isinstance(block, dict) else None
    schema = storage.get("schema") if isinstance(storage, dict) else None
    return Discovery(detect_generation(cluster_info), schema in (GEN_A_SCHEMA, GEN_B_SCHEMA))


async def discover(client: ServerClient, namespaces: Sequence[str]) -> tuple[dict[str, Discovery], list[str]]:
    """Each namespace's discovery, and the errors of namespaces whose cluster-info could not be read."""
    found: dict[str, Discovery] = {}
    errors: list[str] = []
    for namespace in namespaces:
        try:
            found[namespace] = discovered(await client.cluster_info(namespace))
        except ServerError as exc:
            errors.append(f"{namespace}: cluster-info: {exc}")
    return found, errors
