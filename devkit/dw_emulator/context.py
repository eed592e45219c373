"""Everything a request handler needs, shared between the HTTP app and the Python facade."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .config import Generation, Tokens
from .contract import Limits
from .faults import Faults
from .payloads import inline_renderer, is_storage_envelope, sha256_hex, transform
from .registry import Registry, TransportFailure
from .reqlog import RequestLog
from .state import ServerState
from .storage import Resolution, StorageError, StorageResolver


class RenderError(Exception):
    """A payload could not be presented (inline mode: bytes unreadable)."""


@dataclass
class EmulatorContext:
    generation: Generation
    tokens: Tokens
    state: ServerState
    storage: StorageResolver
    faults: Faults
    log: RequestLog
    limits: Limits = field(default_factory=Limits)
    discovery: bool = True
    inline_payloads: bool = False
    shared_delete_hazard: bool = True
    captured: bool = False  # Gen A as captured: SDK 2.x framing refused, no references kept
    registry: Registry = field(init=False)

    def __post_init__(self) -> None:
        self.registry = Registry(self)

    @property
    def gen_b(self) -> bool:
        return self.generation == "B"

    def resolution(self, namespace: str) -> Resolution:
        ns = self.state.namespace(namespace)
        policy = ns.external_payload_storage if ns is not None else None
        return self.storage.resolve(namespace, policy)

    def read_reference(self, namespace: str, reference: dict[str, Any]) -> bytes:
        """Fetch and verify the bytes of a Gen A reference through the namespace driver."""
        driver = self.resolution(namespace).driver
        if driver is None:
            raise StorageError("External payload storage is unavailable for this namespace.")
        data = driver.get(str(reference.get("uri")))
        if len(data) != reference.get("size_bytes") or sha256_hex(data) != str(reference.get("sha256")).lower():
            raise StorageError("External payload bytes failed integrity verification.")
        return data

    def present(self, namespace: str, value: Any) -> Any:
        """Render internal envelopes the way this server generation/mode shows them."""
        if self.inline_payloads:

            def read_blob(reference: dict[str, Any]) -> str:
                try:
                    return self.read_reference(namespace, reference).decode("utf-8")
                except (StorageError, UnicodeDecodeError) as exc:
                    raise RenderError(str(exc)) from exc

            return transform(value, is_storage_envelope, inline_renderer(read_blob))
        if self.gen_b:

            def to_runtime(envelope: dict[str, Any], _parent: Any, _key: Any) -> dict[str, Any]:
                reference = self.registry.reference_for_uri(namespace, envelope["external_storage"])
                return {"codec": reference["codec"], "external_payload": reference}

            return transform(value, is_storage_envelope, to_runtime)
        return transform(value, lambda _v: False, lambda e, _p, _k: e)


CTX = web.AppKey("dw_emulator_context", EmulatorContext)
NAMESPACE = web.RequestKey("dw_namespace", str)  # resolved, lower-cased namespace
ROLE = web.RequestKey("dw_role", str)  # authenticated role
BODY = web.RequestKey("dw_body", dict)  # parsed JSON body (``{}`` when empty/invalid)

__all__ = ["BODY", "CTX", "NAMESPACE", "ROLE", "EmulatorContext", "RenderError", "TransportFailure"]
