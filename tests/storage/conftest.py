"""One store per test on a fresh bucket, for every provider: moto, Ceph RGW, the GCS emulator,
Azurite and a local directory. RGW runs are marked `rgw` (``-m "not rgw"`` leaves them out)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from devkit.naming import unique_name

from payload_operator.adapters.storage.base import ObjectStore
from payload_operator.adapters.storage.factory import open_store
from tests.storage.providers import AzureProvider, GcsProvider, LocalProvider, Provider, S3Provider

PROVIDERS = ["s3", pytest.param("s3-rgw", marks=pytest.mark.rgw), "gcs", "azure", "local"]


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Provider:
    name = request.param
    if name == "s3":
        return S3Provider(name, request.getfixturevalue("moto_s3"), checks_credentials=False)
    if name == "s3-rgw":
        return S3Provider(name, request.getfixturevalue("rgw_s3"), checks_credentials=True)
    if name == "gcs":
        return GcsProvider(request.getfixturevalue("gcs_emulator"), monkeypatch)
    if name == "azure":
        return AzureProvider(request.getfixturevalue("azurite"))
    return LocalProvider(tmp_path)


@pytest.fixture
def bucket(provider: Provider) -> str:
    name = unique_name("t")
    provider.create_bucket(name)
    return name


@pytest.fixture
def store(provider: Provider, bucket: str) -> Iterator[ObjectStore]:
    opened = open_store(provider.spec(bucket), provider.credentials)
    yield opened
    opened.close()
