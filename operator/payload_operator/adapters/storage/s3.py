"""S3 and S3-compatible buckets (AWS, Ceph RGW, moto) through one boto3 client.

Thread-safety: botocore clients are documented thread-safe, so every worker thread shares the one
client and its connection pool (sized by the factory's `max_pool_connections`). The client belongs to the
factory's cache (`client_cache.py`), which every store on the same endpoint and credentials shares: a store
closes only its own read connections.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC
from typing import Any

import urllib3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)

from payload_operator.adapters.storage import errors
from payload_operator.adapters.storage.base import (
    BatchResult,
    StorageAccessDenied,
    StorageError,
)
from payload_operator.adapters.storage.bulk import check_batch
from payload_operator.adapters.storage.s3_reads import ReadSettings
from payload_operator.adapters.storage.sigv4 import PROBE_KEY, CredentialSource, Endpoint, GetSigner
from payload_operator.planning.objects import ObjectInfo

PROVIDER = "S3"
FIRST_PAGE = 100
ERROR_BODY_BYTES = 4096
"""Enough for the <Code> of an S3 error; a hostile endpoint's huge error page is left unread."""
PRESIGNED_SECONDS = 60  # only the probe URL the read endpoint is taken from; it is never sent
# One CopyObject call copies up to 5 GiB; the managed copy switches to multipart copy only above that.
SINGLE_COPY_LIMIT = 5 * 1024**3
_COPY_CONFIG = TransferConfig(multipart_threshold=SINGLE_COPY_LIMIT, use_threads=False)
_CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)


class S3Store:
    """One bucket; `root` is the key root the probe lists, so prefix-scoped IAM policies pass it."""

    scheme = "s3"
    delete_batch_size = 1000

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        credentials: CredentialSource | None,
        reads: ReadSettings,
        root: str = "",
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.root = root
        self._credentials = credentials
        self._reads = reads
        self._reader: tuple[GetSigner, urllib3.PoolManager] | None = None
        self.page_size = 1000
        """Keys per ListObjectsV2 call (S3's maximum); tests lower it to exercise paging."""

    def probe(self) -> None:
        with self._errors("probe"):
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.root, MaxKeys=1)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        # The first page is small so whoever consumes the listing starts work at once; later pages are full.
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": min(FIRST_PAGE, self.page_size)}
        if start_after:
            params["StartAfter"] = start_after
        while True:
            with self._errors("list"):
                page = self.client.list_objects_v2(**params)
            for item in page.get("Contents", ()):
                if not item["Key"].endswith("/"):  # folder placeholders made by consoles
                    yield ObjectInfo(item["Key"], item["Size"], item["LastModified"].astimezone(UTC))
            if not page.get("IsTruncated"):
                return
            if not page.get("NextContinuationToken"):  # stopping here would pass off part of a listing as all
                raise StorageError(f"{PROVIDER} list of {prefix}: truncated page without a continuation token")
            params.update(ContinuationToken=page["NextContinuationToken"], MaxKeys=self.page_size)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            with self._errors("stat", key):
                head = self.client.head_object(Bucket=self.bucket, Key=key)
        except FileNotFoundError:
            return None
        return ObjectInfo(key, head["ContentLength"], head["LastModified"].astimezone(UTC))

    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        # A GET signed here (sigv4.py) and streamed over a quick-ack pool (quickack.py) configured like the
        # client (s3_reads.py): against Ceph RGW an integrity run was 1.36x as fast as with `get_object`
        # reads, at 1.6-1.9x less CPU (docs/benchmarks.md). The headers carry a signature: they are
        # never logged or put into an error message.
        # Retries (throttling, server errors, connection errors) happen inside urlopen and resend the same
        # signed headers: a SigV4 signature stays valid for 15 minutes, far beyond the backoff budget.
        with self._errors("read", key):
            signer, http = self._reading()
            path = signer.path(key)
            headers = signer.headers(path)
        try:
            response = http.urlopen(
                "GET", signer.endpoint.origin + path, headers=headers, preload_content=False, redirect=False
            )
        except urllib3.exceptions.HTTPError as exc:
            raise errors.unreachable(PROVIDER, "read", self.client.meta.endpoint_url, exc) from None
        try:
            if response.status != 200:
                error_body = response.read(ERROR_BODY_BYTES)  # an error page is never read whole
                raise errors.from_response(PROVIDER, "read", response.status, _error_code(error_body), key)
            yield from response.stream(chunk_size)
        except urllib3.exceptions.HTTPError as exc:
            raise StorageError(f"{PROVIDER} read of {key} broke off ({type(exc).__name__})") from None
        finally:
            response.release_conn()

    def _reading(self) -> tuple[GetSigner, urllib3.PoolManager]:
        """The signer and connections of reads, made on the first read: botocore presigns one probe
        URL (locally) so endpoint, addressing style and region are exactly what its own calls use."""
        if self._reader is None:
            if self._credentials is None:
                raise NoCredentialsError()
            url = self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": PROBE_KEY}, ExpiresIn=PRESIGNED_SECONDS
            )
            endpoint = Endpoint.from_presigned_url(url)
            self._reader = GetSigner(endpoint, self._credentials), self._reads.pool_manager(endpoint.origin)
        return self._reader

    def put(self, key: str, data: bytes) -> None:
        with self._errors("put", key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/octet-stream")

    def copy(self, source_key: str, target_key: str) -> None:
        with self._errors("copy", source_key):
            self.client.copy({"Bucket": self.bucket, "Key": source_key}, self.bucket, target_key, Config=_COPY_CONFIG)

    def delete_batch(self, keys: Sequence[str]) -> BatchResult:
        check_batch(keys, self.delete_batch_size)
        if not keys:
            return BatchResult()
        with self._errors("delete"):
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        # HTTP 200 even when some keys failed: the failures are only in Errors[]. Deleting an absent
        # key succeeds on S3, so "already gone" counts as deleted here as in every adapter.
        failed = {e["Key"]: errors.error_code(e.get("Code")) or "Error" for e in response.get("Errors", ())}
        return BatchResult(deleted=[key for key in keys if key not in failed], errors=failed)

    def close(self) -> None:
        if self._reader is not None:
            self._reader[1].clear()

    def _errors(self, operation: str, key: str | None = None) -> AbstractContextManager[None]:
        return errors.translated(lambda exc: translate(exc, operation, key, self.client.meta.endpoint_url))


def _error_code(body: bytes) -> str | None:
    """The <Code> of an S3 XML error body."""
    match = re.search(rb"<Code>([^<]{1,64})</Code>", body[:ERROR_BODY_BYTES])
    return match.group(1).decode(errors="replace") if match else None


def translate(exc: Exception, operation: str, key: str | None, endpoint: str) -> Exception | None:
    """The StorageError (or FileNotFoundError) for a botocore exception; None for anything else."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return errors.from_response(PROVIDER, operation, status, exc.response.get("Error", {}).get("Code"), key)
    if isinstance(exc, ConnectionError | HTTPClientError | IncompleteReadError):
        return errors.unreachable(PROVIDER, operation, endpoint, exc)
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return StorageAccessDenied(f"{PROVIDER} {operation}: no usable credentials ({type(exc).__name__})")
    if isinstance(exc, BotoCoreError):
        return StorageError(f"{PROVIDER} {operation} failed: {type(exc).__name__}")
    return None
