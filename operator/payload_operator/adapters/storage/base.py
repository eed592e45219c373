"""What the operator needs from object storage, independent of the provider.

The methods are synchronous (every provider SDK is); callers run them in worker threads with bounded
concurrency. Listing streams page by page so memory stays flat however large the bucket is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from payload_operator.planning.objects import ObjectInfo

CONNECT_TIMEOUT_SECONDS = 5.0
"""Every provider connection: a dead endpoint must fail in seconds, not minutes."""
READ_TIMEOUT_SECONDS = 60.0
"""Longest silence while reading an answer."""


@dataclass
class BatchResult:
    """Outcome of a batch delete: providers answer per key, never all-or-nothing."""

    deleted: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class StorageError(Exception):
    """A storage call failed; `reason` is one CamelCase word for conditions and metrics."""

    reason = "StorageError"


class StorageUnreachable(StorageError):
    """The storage endpoint did not answer (connection refused, DNS, timeout)."""

    reason = "StorageUnreachable"


class StorageAccessDenied(StorageError):
    """Credentials were refused or lack a permission."""

    reason = "StorageAccessDenied"


class StorageThrottled(StorageError):
    """The provider asked us to slow down."""

    reason = "StorageThrottled"


class BucketNotFound(StorageError):
    """The bucket or container does not exist."""

    reason = "BucketNotFound"


class ObjectStore(Protocol):
    """Data-plane access to one bucket, container or directory."""

    scheme: str
    """URI scheme of this store (s3, gs, azure-blob, file)."""
    bucket: str
    """Bucket, container or root directory."""
    delete_batch_size: int
    """How many keys one provider delete call takes (S3 1000, Azure 256, GCS 100)."""

    def probe(self) -> None:
        """Prove the store answers and the bucket exists; raise StorageError otherwise."""

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects under `prefix`, in lexicographic key order, fetched page by page."""

    def stat(self, key: str) -> ObjectInfo | None:
        """One object's metadata, or None when it does not exist."""

    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The object's bytes as a stream of chunks; raise FileNotFoundError when absent."""

    def put(self, key: str, data: bytes) -> None:
        """Write a whole object (quarantine notes, tests)."""

    def copy(self, source_key: str, target_key: str) -> None:
        """Server-side copy within the store (quarantine)."""

    def delete_batch(self, keys: Sequence[str]) -> BatchResult:
        """Delete up to `delete_batch_size` keys in one provider call."""

    def close(self) -> None:
        """Release connections."""
