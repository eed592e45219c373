"""Google Cloud Storage buckets through one google-cloud-storage client.

Thread-safety: the client rides on a requests session whose urllib3 pool is thread-safe (the library
documents sharing a client across threads), and `client.batch()` keeps its batch on a thread-local
stack, so a delete batch on one thread never captures another thread's reads. Stores on the same endpoint
and credentials share one client (the factory's cache).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC
from typing import Any

import requests
from google.api_core.exceptions import GoogleAPICallError, RetryError
from google.auth.exceptions import DefaultCredentialsError, RefreshError, TransportError
from google.cloud.storage.retry import DEFAULT_RETRY

from payload_operator.adapters.storage import errors
from payload_operator.adapters.storage.base import BatchResult, StorageAccessDenied
from payload_operator.adapters.storage.bulk import check_batch
from payload_operator.planning.objects import ObjectInfo

PROVIDER = "GCS"
# Only what ObjectInfo needs: listing a million objects moves a fraction of the full metadata.
LIST_FIELDS = "items(name,size,timeCreated),nextPageToken"
RETRY_DEADLINE_SECONDS = 5.0
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    TransportError,
)


class GcsStore:
    """One bucket; `root` is the key root the probe lists, so prefix-scoped IAM conditions pass it."""

    scheme = "gs"
    delete_batch_size = 100  # the service's advice per batch request, though the library allows 1000

    def __init__(self, client: Any, bucket: str, *, timeout: tuple[float, float], root: str = "") -> None:
        """`timeout` is (connect, read) seconds for every call; retries stop after RETRY_DEADLINE_SECONDS."""
        self.client = client
        self.bucket = bucket
        self.root = root
        self.page_size = 1000
        """Objects per list call (the JSON API's maximum); tests lower it to exercise paging."""
        self._bucket = client.bucket(bucket)
        self._call = {"timeout": timeout, "retry": DEFAULT_RETRY.with_timeout(RETRY_DEADLINE_SECONDS)}

    def probe(self) -> None:
        # A one-item list, not buckets.get: object-scoped roles (Storage Object Admin) cannot read the bucket.
        with self._errors("probe"):
            list(self.client.list_blobs(self.bucket, prefix=self.root, max_results=1, **self._call))

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        blobs = self.client.list_blobs(
            self.bucket,
            prefix=prefix,
            start_offset=start_after,  # inclusive on GCS, hence the filter below
            page_size=self.page_size,
            fields=LIST_FIELDS,
            **self._call,
        )
        with self._errors("list"):
            for blob in blobs:
                if blob.name.endswith("/") or (start_after is not None and blob.name <= start_after):
                    continue
                yield ObjectInfo(blob.name, blob.size, blob.time_created.astimezone(UTC))

    def stat(self, key: str) -> ObjectInfo | None:
        with self._errors("stat", key):
            blob = self._bucket.get_blob(key, **self._call)
        return None if blob is None else ObjectInfo(key, blob.size, blob.time_created.astimezone(UTC))

    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """One ranged GET per chunk, all of the generation seen first, so an overwrite cannot mix bytes."""
        with self._errors("read", key):
            found = self._bucket.get_blob(key, **self._call)
            if found is None:
                raise errors.missing(key)
            # A fresh handle, not `found`: its server-given mediaLink names the public host, which a
            # private endpoint may not reach; this one builds URLs on the client's endpoint.
            blob = self._bucket.blob(key, generation=found.generation)
            for start in range(0, found.size, chunk_size):
                end = min(start + chunk_size, found.size) - 1  # inclusive
                # raw: the stored bytes, never transcoded (gzip Content-Encoding would change them).
                yield blob.download_as_bytes(start=start, end=end, raw_download=True, checksum=None, **self._call)

    def put(self, key: str, data: bytes) -> None:
        with self._errors("put", key):
            self._bucket.blob(key).upload_from_string(data, content_type="application/octet-stream", **self._call)

    def copy(self, source_key: str, target_key: str) -> None:
        """Server-side rewrite, repeated while GCS hands back a token (large or cross-class objects)."""
        source, target = self._bucket.blob(source_key), self._bucket.blob(target_key)
        with self._errors("copy", source_key):
            token, _, _ = target.rewrite(source, **self._call)
            while token is not None:
                token, _, _ = target.rewrite(source, token=token, **self._call)

    def delete_batch(self, keys: Sequence[str]) -> BatchResult:
        check_batch(keys, self.delete_batch_size)
        result = BatchResult()
        if not keys:
            return result
        with self._errors("delete"), self.client.batch(raise_exception=False) as batch:
            for key in keys:
                self._bucket.delete_blob(key, timeout=self._call["timeout"])
        # Batch.finish() returns the sub-responses, but the context manager calls it for us and keeps
        # them only on `_responses`; finishing by hand would send the batch twice.
        gone = False
        for key, response in zip(keys, batch._responses, strict=True):
            if response.ok or response.status_code == errors.NOT_FOUND:
                result.deleted.append(key)
                gone = gone or not response.ok
            else:
                result.errors[key] = _reason(response) or f"HTTP {response.status_code}"
        if gone:
            self.probe()  # a 404 also answers every key of a missing bucket: tell the two apart
        return result

    def close(self) -> None:
        """Nothing of its own to release: the client belongs to the factory's cache (`client_cache.py`)."""

    def _errors(self, operation: str, key: str | None = None) -> AbstractContextManager[None]:
        return errors.translated(lambda exc: translate(exc, operation, key, self.client.api_endpoint))


def _reason(response: requests.Response) -> str:
    """The JSON API's error reason (e.g. "forbidden") of one batch sub-response."""
    try:
        return errors.error_code(response.json()["error"]["errors"][0]["reason"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def translate(exc: Exception, operation: str, key: str | None, endpoint: str) -> Exception | None:
    """The StorageError (or FileNotFoundError) for a Google client exception; None for anything else."""
    if isinstance(exc, RetryError) and isinstance(exc.cause, Exception):
        return translate(exc.cause, operation, key, endpoint)
    if isinstance(exc, GoogleAPICallError):
        reason = exc.errors[0].get("reason") if exc.errors and isinstance(exc.errors[0], dict) else None
        return errors.from_response(PROVIDER, operation, exc.code, reason, key)
    if isinstance(exc, _TRANSPORT_ERRORS):
        return errors.unreachable(PROVIDER, operation, endpoint, exc)
    if isinstance(exc, RefreshError | DefaultCredentialsError):
        return StorageAccessDenied(f"{PROVIDER} {operation}: credentials refused ({type(exc).__name__})")
    return None
