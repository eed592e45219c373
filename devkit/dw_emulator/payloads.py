"""Payload envelopes: inline ``{codec, blob}``, Gen A ``external_storage``, Gen B ``external_payload``.

Internally every externalized payload is kept in the Gen A form ``{codec, external_storage: {…}}``,
like the server's ``dw-external-payload:v1:`` column values (§2.4); it is presented per generation
and mode when a response is rendered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from .contract import REFERENCE_SCHEMA, RUNTIME_REFERENCE_SCHEMA

Envelope = dict[str, Any]
# fn(envelope, parent_dict_or_None, key_or_None) -> replacement
EnvelopeFn = Callable[[Envelope, dict[str, Any] | None, str | None], Any]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def to_bytes(blob: str | bytes) -> bytes:
    """Stored object content is the UTF-8 bytes of the base64 blob text (§3)."""
    return blob.encode("utf-8") if isinstance(blob, str) else bytes(blob)


def storage_reference(uri: str, data: bytes, codec: str = "avro") -> dict[str, Any]:
    return {
        "schema": REFERENCE_SCHEMA,
        "uri": uri,
        "sha256": sha256_hex(data),
        "size_bytes": len(data),
        "codec": codec,
    }


def storage_envelope(reference: dict[str, Any]) -> Envelope:
    return {"codec": reference.get("codec", "avro"), "external_storage": dict(reference)}


def runtime_reference(reference_id: str, sha256: str, size_bytes: int, codec: str = "avro") -> dict[str, Any]:
    return {
        "schema": RUNTIME_REFERENCE_SCHEMA,
        "reference_id": reference_id,
        "codec": codec,
        "size_bytes": size_bytes,
        "sha256": sha256,
    }


def inline_envelope(blob: str, codec: str = "avro") -> Envelope:
    return {"codec": codec, "blob": blob}


def is_storage_envelope(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("external_storage"), dict)
        and set(value) <= {"codec", "external_storage"}
    )


def is_runtime_envelope(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("external_payload"), dict)
        and set(value) <= {"codec", "external_payload"}
    )


def transform(value: Any, is_target: Callable[[Any], bool], fn: EnvelopeFn) -> Any:
    """Deep-copy ``value`` replacing every envelope matched by ``is_target`` with ``fn(...)``."""

    def walk(item: Any, parent: dict[str, Any] | None, key: str | None) -> Any:
        if is_target(item):
            return fn(item, parent, key)
        if isinstance(item, dict):
            return {k: walk(v, item, k) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, None, None) for v in item]
        return item

    return walk(value, None, None)


def iter_envelopes(value: Any, is_target: Callable[[Any], bool]) -> Iterator[Envelope]:
    if is_target(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_envelopes(item, is_target)
    elif isinstance(value, list):
        for item in value:
            yield from iter_envelopes(item, is_target)


def storage_uris(value: Any) -> list[str]:
    """Every ``external_storage.uri`` found anywhere in ``value`` (first-seen order, unique)."""
    seen: dict[str, None] = {}
    for envelope in iter_envelopes(value, is_storage_envelope):
        uri = envelope["external_storage"].get("uri")
        if isinstance(uri, str) and uri:
            seen.setdefault(uri, None)
    return list(seen)


def contains_key(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(contains_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(contains_key(v, key) for v in value)
    return False


def inline_renderer(read_blob: Callable[[dict[str, Any]], str]) -> EnvelopeFn:
    """Presentation of a server that resolves offloaded payloads inline (§12).

    ``command.payload`` (a sibling of ``payload_codec``) becomes the bare blob string, like the
    real answers; everywhere else the envelope becomes ``{codec, blob}``.
    """

    def render(envelope: Envelope, parent: dict[str, Any] | None, key: str | None) -> Any:
        reference = envelope["external_storage"]
        blob = read_blob(reference)
        if parent is not None and key == "payload" and "payload_codec" in parent:
            return blob
        return inline_envelope(blob, str(envelope.get("codec") or reference.get("codec") or "avro"))

    return render
