"""Azure Blob containers through one azure-storage-blob ContainerClient.

Thread-safety: Azure SDK clients are documented thread-safe; every worker thread shares the one
container client, its pipeline and its pooled requests session (sized by the factory).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import ContentSettings

from payload_operator.adapters.storage import errors
from payload_operator.adapters.storage.base import (
    BatchResult,
    BucketNotFound,
    StorageAccessDenied,
    StorageError,
)
from payload_operator.adapters.storage.bulk import check_batch
from payload_operator.planning.objects import ObjectInfo

PROVIDER = "Azure"
COPY_WAIT_SECONDS = 600.0
_OCTET_STREAM = ContentSettings(content_type="application/octet-stream")


class AzureStore:
    """One container; its client shares the pipeline of a cached service client (the factory's cache), so
    closing it leaves the shared connections and identity open."""

    scheme = "azure-blob"
    delete_batch_size = 256  # Blob Batch's limit per request

    def __init__(self, container: Any, *, root: str = "") -> None:
        self.container = container
        self.bucket: str = container.container_name
        self.root = root
        self.page_size = 5000
        """Blobs per List Blobs call (the service's maximum); tests lower it to exercise paging."""

    def probe(self) -> None:
        with self._errors("probe"):
            next(self.container.list_blobs(name_starts_with=self.root, results_per_page=1).by_page(), None)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        # start_after is applied here: List Blobs has no exclusive start, only an opaque marker.
        blobs = self.container.list_blobs(
            name_starts_with=prefix, include=["metadata"], results_per_page=self.page_size
        )
        with self._errors("list"):
            for blob in blobs:
                if _is_directory(blob) or (start_after is not None and blob.name <= start_after):
                    continue
                yield ObjectInfo(blob.name, blob.size, blob.last_modified.astimezone(UTC))

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            with self._errors("stat", key):
                props = self.container.get_blob_client(key).get_blob_properties()
        except FileNotFoundError:
            return None
        return ObjectInfo(key, props.size, props.last_modified.astimezone(UTC))

    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Memory stays at one service chunk (the factory caps it) plus one `chunk_size` piece."""
        with self._errors("read", key):
            stream = self.container.get_blob_client(key).download_blob(max_concurrency=1, decompress=False)
            while chunk := stream.read(chunk_size):
                yield chunk

    def put(self, key: str, data: bytes) -> None:
        with self._errors("put", key):
            self.container.get_blob_client(key).upload_blob(data, overwrite=True, content_settings=_OCTET_STREAM)

    def copy(self, source_key: str, target_key: str) -> None:
        """Server-side Copy Blob; within one account it usually completes at once, else we wait."""
        source = self.container.get_blob_client(source_key)
        target = self.container.get_blob_client(target_key)
        with self._errors("copy", source_key):
            status = target.start_copy_from_url(source.url)["copy_status"]
            deadline, delay = time.monotonic() + COPY_WAIT_SECONDS, 0.1
            while status == "pending" and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                status = target.get_blob_properties().copy.status
        if status != "success":
            raise StorageError(f"{PROVIDER} copy of {source_key} ended {status}")

    def delete_batch(self, keys: Sequence[str]) -> BatchResult:
        check_batch(keys, self.delete_batch_size)
        result = BatchResult()
        if not keys:
            return result
        with self._errors("delete"):
            responses = list(self.container.delete_blobs(*keys, raise_on_any_failure=False))
        for key, response in zip(keys, responses, strict=True):
            code = errors.error_code(response.headers.get("x-ms-error-code"))
            if code in errors.BUCKET_MISSING_CODES:
                raise BucketNotFound(f"{PROVIDER} delete failed: {code}")
            if response.status_code < 300 or code == "BlobNotFound":  # already gone counts as deleted
                result.deleted.append(key)
            else:
                result.errors[key] = code or f"HTTP {response.status_code}"
        return result

    def close(self) -> None:
        self.container.close()

    def _errors(self, operation: str, key: str | None = None) -> AbstractContextManager[None]:
        return errors.translated(lambda exc: translate(exc, operation, key, self.container.url))


def _is_directory(blob: Any) -> bool:
    """Folder placeholders: "name/" blobs, and the hdi_isfolder markers of hierarchical-namespace accounts."""
    return bool(blob.name.endswith("/") or (blob.metadata or {}).get("hdi_isfolder") == "true")


def translate(exc: Exception, operation: str, key: str | None, endpoint: str) -> Exception | None:
    """The StorageError (or FileNotFoundError) for an Azure SDK exception; None for anything else."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError | IncompleteReadError):
        return errors.unreachable(PROVIDER, operation, endpoint, exc)
    if isinstance(exc, ClientAuthenticationError) and exc.status_code is None:  # e.g. no identity found
        return StorageAccessDenied(f"{PROVIDER} {operation}: no usable credential ({type(exc).__name__})")
    if isinstance(exc, HttpResponseError):
        # error_code is added by the storage SDK's error handling, not declared on HttpResponseError.
        return errors.from_response(PROVIDER, operation, exc.status_code, getattr(exc, "error_code", None), key)
    if isinstance(exc, AzureError):
        return StorageError(f"{PROVIDER} {operation} failed: {type(exc).__name__}")
    return None
