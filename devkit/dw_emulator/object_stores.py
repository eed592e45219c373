"""Optional :class:`~devkit.dw_emulator.storage.ObjectStore` adapters for real provider APIs.

``srv.set_object_store("s3", S3ClientObjectStore(boto3_client))`` makes the emulated ``s3`` driver
write its objects into a real S3 endpoint (moto, Ceph RGW, MinIO, …) so the operator sees them there;
``GcsClientObjectStore`` and ``AzureContainerObjectStore`` do the same for GCS and Azure Blob.
"""

from __future__ import annotations

from typing import Any

from .storage import ObjectMissing, StorageError


def split_uri(uri: str) -> tuple[str, str]:
    _scheme, sep, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if not sep or not bucket or not key:
        raise StorageError(f"Malformed object URI [{uri}].")
    return bucket, key


class S3ClientObjectStore:
    """Objects behind ``s3://bucket/key`` URIs through a boto3-compatible S3 client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @staticmethod
    def _missing(exc: Exception) -> bool:
        response = getattr(exc, "response", None)
        code = str((response or {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def put(self, uri: str, data: bytes) -> None:
        bucket, key = split_uri(uri)
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/octet-stream")
        except Exception as exc:
            raise StorageError(f"S3 put failed: {exc}") from exc

    def get(self, uri: str) -> bytes:
        bucket, key = split_uri(uri)
        try:
            body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            if self._missing(exc):
                raise ObjectMissing(f"External payload object [{uri}] does not exist.") from exc
            raise StorageError(f"S3 get failed: {exc}") from exc
        return body

    def delete(self, uri: str) -> None:
        bucket, key = split_uri(uri)
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise StorageError(f"S3 delete failed: {exc}") from exc

    def exists(self, uri: str) -> bool:
        bucket, key = split_uri(uri)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if self._missing(exc):
                return False
            raise StorageError(f"S3 head failed: {exc}") from exc
        return True


class GcsClientObjectStore:
    """Objects behind ``gcs://bucket/key`` URIs through a ``google.cloud.storage.Client``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _blob(self, uri: str) -> Any:
        bucket, key = split_uri(uri)
        return self.client.bucket(bucket).blob(key)

    def put(self, uri: str, data: bytes) -> None:
        self._blob(uri).upload_from_string(data, content_type="application/octet-stream")

    def get(self, uri: str) -> bytes:
        blob = self._blob(uri)
        if not blob.exists():
            raise ObjectMissing(f"External payload object [{uri}] does not exist.")
        data: bytes = blob.download_as_bytes()
        return data

    def delete(self, uri: str) -> None:
        blob = self._blob(uri)
        if blob.exists():
            blob.delete()

    def exists(self, uri: str) -> bool:
        return bool(self._blob(uri).exists())


class AzureContainerObjectStore:
    """Objects behind ``azure://container/key`` URIs through an ``azure.storage.blob.BlobServiceClient``."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def _blob(self, uri: str) -> Any:
        container, key = split_uri(uri)
        return self.service.get_blob_client(container, key)

    def put(self, uri: str, data: bytes) -> None:
        self._blob(uri).upload_blob(data, overwrite=True)

    def get(self, uri: str) -> bytes:
        blob = self._blob(uri)
        if not blob.exists():
            raise ObjectMissing(f"External payload object [{uri}] does not exist.")
        data: bytes = blob.download_blob().readall()
        return data

    def delete(self, uri: str) -> None:
        blob = self._blob(uri)
        if blob.exists():
            blob.delete_blob(delete_snapshots="include")

    def exists(self, uri: str) -> bool:
        return bool(self._blob(uri).exists())
