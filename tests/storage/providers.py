"""The providers the storage contract suite runs against, each behind one small interface.

A provider knows how to make a bucket on its server, how to describe it as a spec, and how to stage
the failures the contract checks (a refused delete, a dead endpoint, wrong credentials). What a
server cannot stage is skipped with the reason, never faked.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from devkit.procs import free_port
from devkit.services import AzuriteEndpoint, GcsEndpoint, S3Endpoint

from payload_operator.adapters.storage.base import ObjectStore
from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.core.secrets import SecretValues

SERVER = {"url": "http://dw.invalid", "tokenSecretRef": {"name": "dw-token"}, "namespaces": ["default"]}


def make_spec(driver: str, block: dict[str, Any], prefix: str = "") -> ExternalPayloadStorageSpec:
    return ExternalPayloadStorageSpec.model_validate(
        {"server": SERVER, "driver": driver, driver: block, "prefix": prefix}
    )


def dead_url() -> str:
    """A local port nobody listens on: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def leak_marker(label: str) -> str:
    """A credential value distinctive enough that finding it in a message cannot be a coincidence."""
    return f"{label}-{secrets.token_hex(12)}"


class Provider:
    """Defaults: cloud-style folder placeholders; every staged failure unsupported."""

    name = ""
    credentials: SecretValues | None = None

    def spec(self, bucket: str) -> ExternalPayloadStorageSpec:
        raise NotImplementedError

    def create_bucket(self, bucket: str) -> None:
        raise NotImplementedError

    def add_folder(self, store: ObjectStore, bucket: str, name: str) -> None:
        """A console-made "folder": an empty object whose key ends with a slash."""
        store.put(f"{name}/", b"")

    def refuse_delete(self, bucket: str, key: str) -> None:
        pytest.skip(f"{self.name}: the server cannot be made to refuse one delete")

    def dead(self) -> tuple[ExternalPayloadStorageSpec, SecretValues | None]:
        pytest.skip(f"{self.name}: no network endpoint")

    def wrong_credentials(self, bucket: str) -> tuple[ExternalPayloadStorageSpec, SecretValues]:
        pytest.skip(f"{self.name}: the server does not check credentials")


class S3Provider(Provider):
    def __init__(self, name: str, endpoint: S3Endpoint, *, checks_credentials: bool) -> None:
        self.name = name
        self.endpoint = endpoint
        self.checks_credentials = checks_credentials
        self.credentials = self._secret(endpoint.access_key, endpoint.secret_key)

    def spec(self, bucket: str, endpoint: str | None = None) -> ExternalPayloadStorageSpec:
        block = {
            "bucket": bucket,
            "region": self.endpoint.region,
            "endpoint": endpoint or self.endpoint.url,
            "forcePathStyle": True,
            "credentialsSecretRef": {"name": "s3-credentials"},
        }
        return make_spec("s3", block)

    def create_bucket(self, bucket: str) -> None:
        self.endpoint.client().create_bucket(Bucket=bucket)

    def refuse_delete(self, bucket: str, key: str) -> None:
        statement = {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteObject",
            "Resource": f"arn:aws:s3:::{bucket}/{key}",
        }
        policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        self.endpoint.client().put_bucket_policy(Bucket=bucket, Policy=policy)

    def dead(self) -> tuple[ExternalPayloadStorageSpec, SecretValues | None]:
        credentials = self._secret(leak_marker("AKIA"), leak_marker("s3-secret"))
        return self.spec("dead-bucket", endpoint=dead_url()), credentials

    def wrong_credentials(self, bucket: str) -> tuple[ExternalPayloadStorageSpec, SecretValues]:
        if not self.checks_credentials:
            pytest.skip(f"{self.name}: moto accepts any credentials")
        return self.spec(bucket), self._secret(self.endpoint.access_key, leak_marker("wrong-secret"))

    @staticmethod
    def _secret(access_key: str, secret_key: str) -> SecretValues:
        return SecretValues("secret test/s3-credentials", {"accessKeyId": access_key, "secretAccessKey": secret_key})


class GcsProvider(Provider):
    """The emulator is reached anonymously through STORAGE_EMULATOR_HOST, as the factory expects."""

    name = "gcs"

    def __init__(self, endpoint: GcsEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
        self.endpoint = endpoint
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint.url)

    def spec(self, bucket: str, endpoint: str | None = None) -> ExternalPayloadStorageSpec:
        return make_spec("gcs", {"bucket": bucket, "endpoint": endpoint or self.endpoint.url})

    def create_bucket(self, bucket: str) -> None:
        self.endpoint.client().create_bucket(bucket)

    def refuse_delete(self, bucket: str, key: str) -> None:
        pytest.skip("gcs: the emulator answers every batched delete 204 or 404 (test_gcs_batch covers refusals)")

    def dead(self) -> tuple[ExternalPayloadStorageSpec, SecretValues | None]:
        return self.spec("dead-bucket", endpoint=dead_url()), None


class AzureProvider(Provider):
    name = "azure"

    def __init__(self, endpoint: AzuriteEndpoint) -> None:
        self.endpoint = endpoint
        self.credentials = self._secret(endpoint.connection_string)

    def spec(self, bucket: str) -> ExternalPayloadStorageSpec:
        block = {
            "container": bucket,
            "accountUrl": self.endpoint.url,
            "credentialsSecretRef": {"name": "azure-credentials"},
        }
        return make_spec("azure", block)

    def create_bucket(self, bucket: str) -> None:
        self.endpoint.client().create_container(bucket)

    def refuse_delete(self, bucket: str, key: str) -> None:
        # A leased blob refuses a delete that names no lease id (412 LeaseIdMissing).
        self.endpoint.client().get_blob_client(bucket, key).acquire_lease()

    def dead(self) -> tuple[ExternalPayloadStorageSpec, SecretValues | None]:
        dead = self.endpoint.connection_string.replace(self.endpoint.url.rsplit("/", 1)[0], dead_url())
        return self.spec("dead-container"), self._secret(dead)

    def wrong_credentials(self, bucket: str) -> tuple[ExternalPayloadStorageSpec, SecretValues]:
        wrong_key = base64.b64encode(leak_marker("wrong-key").encode() * 2).decode()
        connection_string = self.endpoint.connection_string.replace(self.endpoint.account_key, wrong_key)
        return self.spec(bucket), self._secret(connection_string)

    @staticmethod
    def _secret(connection_string: str) -> SecretValues:
        return SecretValues("secret test/azure-credentials", {"connectionString": connection_string})


class LocalProvider(Provider):
    name = "local"

    def __init__(self, base: Path) -> None:
        self.base = base

    def spec(self, bucket: str) -> ExternalPayloadStorageSpec:
        return make_spec("local", {"path": str(self.base / bucket)})

    def create_bucket(self, bucket: str) -> None:
        (self.base / bucket).mkdir()

    def add_folder(self, store: ObjectStore, bucket: str, name: str) -> None:
        (self.base / bucket / name).mkdir(parents=True)

    def refuse_delete(self, bucket: str, key: str) -> None:
        # A non-empty directory where the file was: unlink fails with EISDIR.
        path = self.base / bucket / key
        path.unlink()
        path.mkdir()
        (path / "inside").write_bytes(b"x")
