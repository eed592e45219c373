"""S3 object reads honour the configuration the botocore client beside them uses: the CA bundle of a
private-CA store, proxies from the environment, and a bounded retry budget for throttling."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from devkit.arm_emulator.tls import write_self_signed
from devkit.faultproxy import FaultProxy
from devkit.naming import unique_name
from devkit.services import S3Endpoint, start_moto

from payload_operator.adapters.storage.base import ObjectStore, StorageError, StorageThrottled
from payload_operator.adapters.storage.factory import ATTEMPTS, open_store
from tests.drills.storage import S3_SLOWDOWN
from tests.storage.providers import S3Provider

PREFIX = "payloads"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate authority of our own (also the server's certificate, for 127.0.0.1) and its key."""
    return write_self_signed(tmp_path_factory.mktemp("private-ca"))


@pytest.fixture(scope="module")
def https_s3(private_ca: tuple[Path, Path]) -> Iterator[S3Endpoint]:
    with start_moto(tls=private_ca) as endpoint:
        yield endpoint


@pytest.fixture
def no_ambient_tls_or_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", *PROXY_VARIABLES, *(v.lower() for v in PROXY_VARIABLES)):
        monkeypatch.delenv(name, raising=False)


def payload_key(data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    return f"{PREFIX}/avro/{sha[:2]}/{sha}"


def manifest(tmp_path: Path, endpoint: S3Endpoint, bucket: str) -> Path:
    resource = {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {"name": "payloads", "namespace": "apps"},
        "spec": {
            "server": {"url": "http://127.0.0.1:9", "tokenSecretRef": {"name": "dw"}, "namespaces": ["default"]},
            "driver": "s3",
            "s3": {"bucket": bucket, "region": endpoint.region, "endpoint": endpoint.url, "forcePathStyle": True},
            "prefix": PREFIX,
            "integrity": {"concurrency": 2},
        },
    }
    path = tmp_path / "eps.yaml"
    path.write_text(yaml.safe_dump(resource))
    return path


def test_an_integrity_run_against_an_https_store_with_a_private_ca_passes(
    https_s3: S3Endpoint, private_ca: tuple[Path, Path], tmp_path: Path
) -> None:
    ca_bundle = str(private_ca[0])
    bucket = unique_name("tls")
    seeding = https_s3.client(verify=ca_bundle)
    seeding.create_bucket(Bucket=bucket)
    payloads = [f"payload {n} ".encode() * (200 * (n + 1)) for n in range(3)]
    for data in payloads:
        seeding.put_object(Bucket=bucket, Key=payload_key(data), Body=data)
    env = {
        **{k: v for k, v in os.environ.items() if k.upper() not in PROXY_VARIABLES and not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": https_s3.access_key,
        "AWS_SECRET_ACCESS_KEY": https_s3.secret_key,
        "AWS_CA_BUNDLE": ca_bundle,  # how a user points the AWS SDKs at a private CA
    }

    eps = manifest(tmp_path, https_s3, bucket)
    done = subprocess.run(
        [sys.executable, "-m", "payload_operator", "integrity", "-f", str(eps), "--mode", "inventory", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["outcome"], report["checked"], report["ok"], report["unreadable"]) == ("Succeeded", 3, 3, 0)
    assert report["bytes"] == sum(len(data) for data in payloads)


@pytest.mark.usefixtures("no_ambient_tls_or_proxies")
def test_a_store_whose_ca_is_not_trusted_is_not_read(https_s3: S3Endpoint, private_ca: tuple[Path, Path]) -> None:
    bucket = unique_name("tls")
    data = b"never read over an unverified connection"
    seeding = https_s3.client(verify=str(private_ca[0]))
    seeding.create_bucket(Bucket=bucket)
    seeding.put_object(Bucket=bucket, Key=payload_key(data), Body=data)
    provider = S3Provider("s3-tls", https_s3, checks_credentials=False)
    store = open_store(provider.spec(bucket), provider.credentials)
    try:
        with pytest.raises(StorageError) as refused:
            b"".join(store.read_chunks(payload_key(data)))
    finally:
        store.close()
    assert https_s3.secret_key not in str(refused.value)


@pytest.fixture
def proxied(moto_s3: S3Endpoint) -> Iterator[tuple[FaultProxy, ObjectStore, str]]:
    """A fresh bucket on moto, a store reaching it through a fault proxy, and one object's key."""
    bucket = unique_name("reads")
    moto_s3.client().create_bucket(Bucket=bucket)
    data = b"an object read through the fault proxy " * 100
    key = payload_key(data)
    moto_s3.client().put_object(Bucket=bucket, Key=key, Body=data)
    provider = S3Provider("s3", moto_s3, checks_credentials=False)
    with FaultProxy(moto_s3.url) as proxy:
        store = open_store(provider.spec(bucket, endpoint=proxy.url), provider.credentials)
        try:
            yield proxy, store, key
        finally:
            store.close()


@pytest.mark.usefixtures("no_ambient_tls_or_proxies")
def test_a_slowdown_on_the_first_get_is_retried_and_the_object_read(
    proxied: tuple[FaultProxy, ObjectStore, str],
) -> None:
    proxy, store, key = proxied
    proxy.status(503, body=S3_SLOWDOWN, content_type="application/xml", method="GET", path_prefix="/", count=1)

    data = b"".join(store.read_chunks(key))

    assert hashlib.sha256(data).hexdigest() == key.rsplit("/", 1)[1]
    gets = proxy.requests.find(method="GET")
    assert [exchange.status for exchange in gets] == [503, 200]


@pytest.mark.usefixtures("no_ambient_tls_or_proxies")
def test_a_store_that_keeps_throttling_is_given_up_on_after_the_retry_budget(
    proxied: tuple[FaultProxy, ObjectStore, str],
) -> None:
    proxy, store, key = proxied
    proxy.status(503, body=S3_SLOWDOWN, content_type="application/xml", method="GET")

    with pytest.raises(StorageThrottled):
        b"".join(store.read_chunks(key))

    assert proxy.requests.count(method="GET") == ATTEMPTS


def test_reads_go_through_the_proxy_the_environment_names(
    moto_s3: S3Endpoint, no_ambient_tls_or_proxies: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = unique_name("proxy")
    data = b"an object read through a forward proxy"
    moto_s3.client().create_bucket(Bucket=bucket)
    moto_s3.client().put_object(Bucket=bucket, Key=payload_key(data), Body=data)
    provider = S3Provider("s3", moto_s3, checks_credentials=False)
    with FaultProxy(moto_s3.url) as forward_proxy:
        monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
        store = open_store(provider.spec(bucket), provider.credentials)
        try:
            assert b"".join(store.read_chunks(payload_key(data))) == data
        finally:
            store.close()

    reads = [e for e in forward_proxy.requests.find(method="GET") if e.path.endswith(payload_key(data))]
    assert [exchange.status for exchange in reads] == [200]
