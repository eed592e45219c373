"""Load an ExternalPayloadStorage from a YAML file, for CLI use outside the cluster."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from payload_operator.api.spec import API_GROUP, KIND, ExternalPayloadStorageSpec


@dataclass(frozen=True)
class Resource:
    """The identity and parsed spec of one ExternalPayloadStorage."""

    namespace: str
    name: str
    uid: str
    spec: ExternalPayloadStorageSpec
    generation: int = 0
    """The metadata.generation of `spec`: what anything computed from it was computed for."""

    @property
    def short_uid(self) -> str:
        """Eight characters that tell two resources of the same name apart."""
        return self.uid.replace("-", "")[:8]


def resource_from_body(body: Mapping[str, Any]) -> Resource:
    """Build a Resource from a Kubernetes object body; a missing uid is derived from namespace/name."""
    meta = body.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    name = meta.get("name") or ""
    uid = meta.get("uid") or hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:32]
    spec = ExternalPayloadStorageSpec.model_validate(body.get("spec") or {})
    return Resource(namespace=namespace, name=name, uid=uid, spec=spec, generation=generation_of(body))


def generation_of(body: Mapping[str, Any]) -> int:
    """The body's metadata.generation (0 when absent, as in a file read by the CLI)."""
    meta = body.get("metadata")
    value = meta.get("generation") if isinstance(meta, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def load_resource(path: Path) -> Resource:
    """Read the first ExternalPayloadStorage document of a YAML file (other kinds, e.g. Secrets, skipped)."""
    text = path.read_text() if str(path) != "-" else __import__("sys").stdin.read()
    for document in yaml.safe_load_all(text):
        if (
            isinstance(document, dict)
            and document.get("kind") == KIND
            and str(document.get("apiVersion", "")).startswith(API_GROUP)
        ):
            return resource_from_body(document)
    raise ValueError(f"{path}: no {KIND} document found")
