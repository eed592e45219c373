"""Best-effort decoding of ``avro`` payload blobs for the fields the server shows decoded.

Two framings exist: the 0.4.x generic wrapper ``0x00 || avro(record{json:string, version:int})``
(what the captured real server stored) and the 2.x single-object ``C3 01 || fingerprint || Value``
(decoded through the installed ``durable_workflow`` SDK when it is importable).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

GENERIC_WRAPPER_SCHEMA = (
    '{"type":"record","name":"Payload","namespace":"durable_workflow","fields":'
    '[{"name":"json","type":"string"},{"name":"version","type":"int","default":1}]}'
)
GENERIC_WRAPPER_FINGERPRINT = "sha256:dbf3081d3e8daf2077dd9937babc664d9ab25924d6a0218ee5bcf7cf4e4c6d6a"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def framing(blob: str) -> str | None:
    """``generic_wrapper`` (0x00), ``single_object`` (C3 01) or None."""
    try:
        head = base64.b64decode(blob[:8] + "=" * (-len(blob[:8]) % 4))
    except (binascii.Error, ValueError):
        return None
    if head[:1] == b"\x00":
        return "generic_wrapper"
    if head[:2] == b"\xc3\x01":
        return "single_object"
    return None


def decode_blob(blob: str) -> Any:
    """Decoded value, or ``None`` when the blob cannot be decoded here."""
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return None
    if raw[:1] == b"\x00":
        try:
            length, pos = _varint(raw, 1)
            return json.loads(raw[pos : pos + length].decode("utf-8"))
        except (IndexError, ValueError):
            return None
    try:
        from durable_workflow import serializer

        return serializer.decode_envelope({"codec": "avro", "blob": blob})
    except Exception:
        return None
