"""Gen B ``runtime_external_payloads`` registry: upload, fetch, claim, owner tracking."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import ids
from .payloads import runtime_reference, sha256_hex, storage_envelope
from .state import RegistryRow
from .storage import ObjectMissing, StorageError

if TYPE_CHECKING:
    from .context import EmulatorContext

_HEX64 = re.compile(r"\A[a-f0-9]{64}\Z")
_REFERENCE_ID = re.compile(r"\Aep_[0-9A-HJKMNP-TV-Z]{26}\Z")
_REFERENCE_KEYS = {"schema", "reference_id", "codec", "size_bytes", "sha256"}


class TransportFailure(Exception):
    """A typed runtime transport outcome (``RuntimeExternalPayloadException``)."""

    def __init__(self, reason: str, status: int, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.message = message
        self.retryable = retryable


def unsupported(message: str) -> TransportFailure:
    return TransportFailure("external_payload_unsupported", 422, message)


def integrity_mismatch(message: str) -> TransportFailure:
    return TransportFailure("external_payload_integrity_mismatch", 422, message)


def unavailable(message: str) -> TransportFailure:
    return TransportFailure("external_payload_unavailable", 503, message, retryable=True)


def oversized() -> TransportFailure:
    return TransportFailure(
        "external_payload_oversized", 413, "External payload exceeds the runtime transport size limit."
    )


def not_found(message: str) -> TransportFailure:
    return TransportFailure("external_payload_not_found", 404, message)


def row_reference(row: RegistryRow) -> dict[str, Any]:
    return runtime_reference(row.id, row.sha256, row.size_bytes, row.codec)


class Registry:
    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx

    @property
    def _max(self) -> int:
        return self.ctx.limits.transport_max_payload_bytes

    def _track(
        self, namespace: str, uri: str, codec: str, sha256: str, size: int, *, retained: bool, status: str
    ) -> RegistryRow:
        state = self.ctx.state
        now = state.now()
        expires = now + timedelta(seconds=self.ctx.limits.abandoned_upload_expiry_seconds)
        with state.lock:
            row = state.registry_row_for(namespace, uri)
            if row is not None:
                if (row.codec, row.size_bytes, row.sha256) != (codec, size, sha256):
                    raise integrity_mismatch("Stable external payload identity resolved to conflicting metadata.")
                if status == "ready":
                    row.upload_status = "ready"
                if retained and row.retained_at is None:
                    row.retained_at, row.expires_at = now, None
                elif not retained and row.retained_at is None:
                    row.expires_at = expires
                return row
            row = RegistryRow(
                id=ids.reference_id(),
                namespace=namespace,
                uri=uri,
                codec=codec,
                sha256=sha256,
                size_bytes=size,
                upload_status=status,
                retained_at=now if retained else None,
                expires_at=None if retained else expires,
            )
            state.registry[row.id] = row
            return row

    def upload(self, namespace: str, data: bytes, codec: str, sha256: str) -> dict[str, Any]:
        if codec != "avro":
            raise unsupported(f"Unsupported payload codec [{codec}].")
        sha256 = sha256.lower()
        if len(data) > self._max:
            raise oversized()
        if _HEX64.match(sha256) is None or sha256 != sha256_hex(data):
            raise integrity_mismatch("Declared external payload integrity metadata does not match the uploaded bytes.")
        driver = self.ctx.resolution(namespace).driver
        if driver is None:
            raise unavailable("External payload storage is unavailable for this namespace.")
        uri = driver.uri_for(sha256, codec)
        row = self._track(namespace, uri, codec, sha256, len(data), retained=False, status="writing")
        try:
            committed = driver.put(data, sha256, codec)
        except StorageError as exc:
            raise unavailable("External payload storage could not commit the uploaded bytes.") from exc
        if committed != uri:
            raise integrity_mismatch("External payload storage did not use its prepared stable object identity.")
        row = self._track(namespace, uri, codec, sha256, len(data), retained=False, status="ready")
        return row_reference(row)

    def register_retained(self, namespace: str, uri: str, codec: str, sha256: str, size: int) -> RegistryRow:
        """``trackRetained``: a server-side externalized payload owned by durable state."""
        return self._track(namespace, uri, codec, sha256.lower(), size, retained=True, status="ready")

    def _row(self, namespace: str, reference: Any) -> RegistryRow:
        if not isinstance(reference, dict) or set(reference) != _REFERENCE_KEYS:
            raise unsupported(
                "Runtime external payload references must contain exactly schema, reference_id, codec, "
                "size_bytes, and sha256."
            )
        reference_id = reference.get("reference_id")
        if not isinstance(reference_id, str) or _REFERENCE_ID.match(reference_id) is None:
            raise unsupported("Runtime external payload reference_id is malformed.")
        size = reference.get("size_bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise unsupported("Runtime external payload size_bytes must be a non-negative integer.")
        if size > self._max:
            raise oversized()
        state = self.ctx.state
        with state.lock:
            row = state.registry.get(reference_id)
            if row is None or row.namespace != namespace or row.upload_status != "ready":
                raise not_found("External payload reference was not found in this namespace.")
            if row.retained_at is None and row.expires_at is not None and row.expires_at <= state.now():
                raise TransportFailure("external_payload_expired", 410, "External payload reference has expired.")
            sha = str(reference.get("sha256", "")).lower()
            if (row.codec, row.size_bytes, row.sha256) != (reference.get("codec"), size, sha):
                raise integrity_mismatch("External payload reference metadata does not match runtime state.")
            return row

    def fetch(self, namespace: str, reference: Any) -> tuple[bytes, dict[str, Any]]:
        row = self._row(namespace, reference)
        driver = self.ctx.resolution(row.namespace).driver
        if driver is None:
            raise unavailable("External payload storage is unavailable for this namespace.")
        try:
            data = driver.get(row.uri)
        except ObjectMissing as exc:
            raise not_found("External payload bytes were not found.") from exc
        except StorageError as exc:
            raise unavailable("External payload storage is temporarily unavailable.") from exc
        if len(data) != row.size_bytes or sha256_hex(data) != row.sha256:
            raise integrity_mismatch("Fetched external payload bytes failed runtime integrity verification.")
        return data, row_reference(row)

    def claim(self, namespace: str, reference: Any) -> dict[str, Any]:
        """``resolveAndClaim``: turn a runtime reference into the internal envelope, retaining it."""
        row = self._row(namespace, reference)
        with self.ctx.state.lock:
            if row.retained_at is None:
                row.retained_at, row.expires_at = self.ctx.state.now(), None
        return storage_envelope(
            {
                "schema": "durable-workflow.v2.external-payload-reference.v1",
                "uri": row.uri,
                "sha256": row.sha256,
                "size_bytes": row.size_bytes,
                "codec": row.codec,
            }
        )

    def reference_for_uri(self, namespace: str, internal: dict[str, Any]) -> dict[str, Any]:
        """``referenceForInternal``: the Gen B reference presented for a stored provider URI."""
        row = self.ctx.state.registry_row_for(namespace, str(internal.get("uri")))
        if row is None or row.upload_status != "ready":
            raise unsupported("Server state contains an unregistered external payload reference.")
        if (row.codec, row.size_bytes, row.sha256) != (
            internal.get("codec"),
            internal.get("size_bytes"),
            str(internal.get("sha256", "")).lower(),
        ):
            raise integrity_mismatch("Server state contains conflicting external payload metadata.")
        return row_reference(row)
