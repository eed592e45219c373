"""Provider clients are shared per endpoint and credentials: a resync reuses the client instead of building one,
a rotated Secret gets a new one, the cache is bounded and closes what it drops, and keys reveal no secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from payload_operator.adapters.bucket_rules.factory import ARM_CLIENTS, open_rule_store
from payload_operator.adapters.storage import factory
from payload_operator.adapters.storage.client_cache import ClientCache, fingerprint
from payload_operator.adapters.storage.factory import open_store
from payload_operator.core.secrets import SecretValues
from tests.storage.providers import make_spec

S3_BLOCK = {"bucket": "one", "region": "eu-west-1", "endpoint": "http://s3.local:9000", "forcePathStyle": True}
AZURE_KEY = "c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs="
CONNECTION = (
    f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={AZURE_KEY};BlobEndpoint=http://127.0.0.1:1/acct;"
)
POLICY = {
    "subscriptionId": "00000000-0000-0000-0000-000000000000",
    "resourceGroup": "rg",
    "accountName": "acct",
    "endpoint": "http://127.0.0.1:1",
}


def built(provider: str) -> float:
    """payload_operator_provider_clients_built_total for `provider`."""
    return REGISTRY.get_sample_value("payload_operator_provider_clients_built_total", {"provider": provider}) or 0.0


def s3_secret(secret_key: str) -> SecretValues:
    return SecretValues("secret ns/s3", {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": secret_key})


@pytest.fixture(autouse=True)
def _empty_caches() -> Iterator[None]:
    caches = (factory.S3_CLIENTS, factory.GCS_CLIENTS, factory.AZURE_ACCOUNTS, ARM_CLIENTS)
    for cache in caches:
        cache.clear()
    yield
    for cache in caches:
        cache.clear()


def test_two_buckets_on_one_endpoint_and_secret_share_one_s3_client() -> None:
    builds = built("s3")
    first = open_store(make_spec("s3", S3_BLOCK), s3_secret("x" * 20))
    second = open_store(make_spec("s3", S3_BLOCK | {"bucket": "two"}), s3_secret("x" * 20))
    first.close()  # a store's close leaves the shared client to the cache

    assert second.client is first.client  # type: ignore[attr-defined]
    assert (second.bucket, built("s3") - builds) == ("two", 1)


def test_a_rotated_secret_a_new_endpoint_or_pool_size_gets_its_own_client() -> None:
    spec = make_spec("s3", S3_BLOCK)
    before = open_store(spec, s3_secret("x" * 20))
    rotated = open_store(spec, s3_secret("y" * 20))
    moved = open_store(make_spec("s3", S3_BLOCK | {"endpoint": "http://other:9000"}), s3_secret("y" * 20))
    wider = open_store(spec, s3_secret("y" * 20), max_connections=64)

    clients = {id(store.client) for store in (before, rotated, moved, wider)}  # type: ignore[attr-defined]
    assert len(clients) == 4
    assert rotated._credentials.get_frozen_credentials().secret_key == "y" * 20  # type: ignore[attr-defined]


def test_a_changed_proxy_environment_gets_a_client_that_honours_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    direct = open_store(make_spec("s3", S3_BLOCK), s3_secret("x" * 20))
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.local:3128")
    proxied = open_store(make_spec("s3", S3_BLOCK), s3_secret("x" * 20))

    assert proxied.client is not direct.client  # type: ignore[attr-defined]


def test_azure_containers_of_one_connection_string_share_the_service_client() -> None:
    builds = built("azure")
    secret = SecretValues("secret ns/az", {"connectionString": CONNECTION})
    block = {"accountUrl": "https://acct.blob.core.windows.net", "credentialsSecretRef": {"name": "az"}}
    first = open_store(make_spec("azure", block | {"container": "one"}), secret)
    second = open_store(make_spec("azure", block | {"container": "two"}), secret)

    assert built("azure") - builds == 1
    assert second.container.url == "http://127.0.0.1:1/acct/two"  # type: ignore[attr-defined]
    first.close()  # closing one container leaves the shared pipeline to the other
    assert len(factory.AZURE_ACCOUNTS) == 1


def test_gcs_buckets_of_one_emulator_share_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    first = open_store(make_spec("gcs", {"bucket": "one", "endpoint": "http://127.0.0.1:1"}), None)
    second = open_store(make_spec("gcs", {"bucket": "two", "endpoint": "http://127.0.0.1:1"}), None)

    assert second.client is first.client  # type: ignore[attr-defined]
    assert len(factory.GCS_CLIENTS) == 1


def test_arm_rule_stores_share_a_client_per_service_principal() -> None:
    def principal(secret: str) -> SecretValues:
        return SecretValues("secret ns/az", {"tenantId": "t", "clientId": "c", "clientSecret": secret})

    azure = {"container": "payloads", "accountUrl": "https://acct.blob.core.windows.net", "managementPolicy": POLICY}
    spec = make_spec("azure", azure | {"credentialsSecretRef": {"name": "az"}})
    builds = built("arm")
    first, second, rotated = (open_rule_store(spec, principal(s)) for s in ("s1", "s1", "s2"))

    assert first is not None
    assert second is not None
    assert rotated is not None
    assert second.client is first.client  # type: ignore[attr-defined]
    assert rotated.client is not first.client  # type: ignore[attr-defined]
    assert built("arm") - builds == 2


def test_the_cache_is_bounded_and_closes_what_it_drops() -> None:
    closed: list[str] = []
    cache: ClientCache[str] = ClientCache("test", closed.append, size=2)
    builds = built("test")
    for name in ("a", "b", "a", "c"):  # "a" used again, so "b" is the least recently used
        cache.get(name, lambda name=name: f"client-{name}")  # type: ignore[misc]

    assert (len(cache), closed, built("test") - builds) == (2, ["client-b"], 3)
    cache.clear()
    assert sorted(closed) == ["client-a", "client-b", "client-c"]


def test_a_failed_build_caches_nothing() -> None:
    cache: ClientCache[str] = ClientCache("test", lambda _: None)

    def refuse() -> str:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        cache.get("k", refuse)
    assert cache.get("k", lambda: "built") == "built"


def test_keys_are_hashes_that_quote_no_secret() -> None:
    key = fingerprint("http://s3.local", {"aws_secret_access_key": "s3cr3t-value"})

    assert len(key) == 64
    assert "s3cr3t" not in key
    assert key == fingerprint("http://s3.local", {"aws_secret_access_key": "s3cr3t-value"})
    assert key != fingerprint("http://s3.local", {"aws_secret_access_key": "rotated"})
