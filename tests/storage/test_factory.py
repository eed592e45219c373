"""open_store wiring: credentials from the Secret or the ambient chain, timeouts, retries, pool sizes,
and configuration errors that name the Secret key but never its value."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payload_operator.adapters.storage.azure import AzureStore
from payload_operator.adapters.storage.base import StorageAccessDenied, StorageError
from payload_operator.adapters.storage.factory import open_store
from payload_operator.adapters.storage.gcs import GcsStore
from payload_operator.adapters.storage.local import LocalStore
from payload_operator.adapters.storage.s3 import S3Store
from payload_operator.core.secrets import SecretValues
from tests.storage.providers import dead_url, make_spec

S3_BLOCK = {"bucket": "payloads", "region": "eu-west-1", "endpoint": "http://s3.local:9000", "forcePathStyle": True}
GCS_BLOCK = {"bucket": "payloads", "endpoint": "http://gcs.local:4443"}
AZURE_BLOCK = {"container": "payloads", "accountUrl": "https://acct.blob.core.windows.net"}
AZURE_KEY = "c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs="


def printed(exc: BaseException) -> str:
    return f"{exc!r}\n" + "".join(traceback.format_exception(exc))


def service_account_json(token_uri: str) -> tuple[str, str]:
    """A well-formed service-account key (fresh RSA key) and its private key PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "payload-test",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "operator@payload-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    return json.dumps(info), pem


def test_s3_client_is_tuned_for_many_threads_and_fast_failure() -> None:
    credentials = SecretValues("secret ns/s3", {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "x" * 20})
    store = open_store(make_spec("s3", S3_BLOCK, prefix="team/orders"), credentials, max_connections=48)
    try:
        assert isinstance(store, S3Store)
        config = store.client.meta.config
        assert config.max_pool_connections == 48
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert (config.connect_timeout, config.read_timeout) == (5.0, 60.0)
        assert config.s3["addressing_style"] == "path"
        assert store.client.meta.region_name == "eu-west-1"
        assert store.client.meta.endpoint_url == "http://s3.local:9000"
        assert store.root == "team/orders/"
    finally:
        store.close()


def test_s3_secret_without_a_key_names_the_key_only() -> None:
    credentials = SecretValues("secret ns/s3", {"accessKeyId": "AKIAEXAMPLE-LEAK"})

    with pytest.raises(StorageAccessDenied, match="secret ns/s3 has no key secretAccessKey") as raised:
        open_store(make_spec("s3", S3_BLOCK), credentials)
    assert "AKIAEXAMPLE-LEAK" not in printed(raised.value)


def test_gcs_service_account_from_the_named_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    sa_json, private_key = service_account_json(token_uri=f"{dead_url()}/token")
    block = GCS_BLOCK | {"endpoint": dead_url(), "credentialsSecretRef": {"name": "gcs", "key": "sa.json"}}
    store = open_store(make_spec("gcs", block), SecretValues("secret ns/gcs", {"sa.json": sa_json}), max_connections=9)
    try:
        assert isinstance(store, GcsStore)
        assert store.client.project == "payload-test"
        assert store.client._http.get_adapter("http://x").poolmanager.connection_pool_kw["maxsize"] == 9
        # The token exchange fails first (dead token_uri): the key's PEM must not surface.
        with pytest.raises(StorageError) as raised:
            store.probe()
        for line in private_key.splitlines()[1:-1]:
            assert line not in printed(raised.value)
    finally:
        store.close()


def test_gcs_secret_that_is_not_json_is_refused_without_echo() -> None:
    credentials = SecretValues("secret ns/gcs", {"service-account.json": '{"private_key": "LEAKME'})
    block = GCS_BLOCK | {"credentialsSecretRef": {"name": "gcs"}}

    with pytest.raises(StorageAccessDenied, match=r"service-account\.json is not service-account JSON") as raised:
        open_store(make_spec("gcs", block), credentials)
    assert "LEAKME" not in printed(raised.value)


def test_gcs_without_credentials_or_ambient_identity_is_access_denied(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud user credentials
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata server probe

    with pytest.raises(StorageAccessDenied, match="Application Default Credentials"):
        open_store(make_spec("gcs", GCS_BLOCK), None)


def test_azure_connection_string_from_the_secret_names_its_own_endpoint() -> None:
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={AZURE_KEY};"
        "BlobEndpoint=http://127.0.0.1:10000/acct;"
    )
    block = AZURE_BLOCK | {"credentialsSecretRef": {"name": "az"}}
    store = open_store(make_spec("azure", block), SecretValues("secret ns/az", {"connectionString": connection_string}))
    try:
        assert isinstance(store, AzureStore)
        assert store.container.url == "http://127.0.0.1:10000/acct/payloads"
    finally:
        store.close()


def test_azure_malformed_connection_string_is_refused_without_echo() -> None:
    credentials = SecretValues("secret ns/az", {"connectionString": f"AccountKey={AZURE_KEY}"})
    block = AZURE_BLOCK | {"credentialsSecretRef": {"name": "az"}}

    with pytest.raises(StorageAccessDenied, match="malformed") as raised:
        open_store(make_spec("azure", block), credentials)
    assert AZURE_KEY not in printed(raised.value)


def test_azure_ambient_connection_string_then_default_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        f"DefaultEndpointsProtocol=http;AccountName=env;AccountKey={AZURE_KEY};BlobEndpoint=http://127.0.0.1:1/env;",
    )
    from_env = open_store(make_spec("azure", AZURE_BLOCK), None)
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    with_identity = open_store(make_spec("azure", AZURE_BLOCK), None)
    try:
        assert from_env.container.url == "http://127.0.0.1:1/env/payloads"  # type: ignore[attr-defined]
        assert with_identity.container.url == "https://acct.blob.core.windows.net/payloads"  # type: ignore[attr-defined]
    finally:
        from_env.close()
        with_identity.close()


def test_local_root_is_the_path(tmp_path: Path) -> None:
    store = open_store(make_spec("local", {"path": str(tmp_path)}), None)
    assert isinstance(store, LocalStore)
    assert store.bucket == str(tmp_path)


def test_a_spec_without_its_driver_block_is_refused() -> None:
    spec = make_spec("s3", S3_BLOCK).model_copy(update={"s3": None})

    with pytest.raises(ValueError, match=r"spec\.s3 must be set"):
        open_store(spec, None)
