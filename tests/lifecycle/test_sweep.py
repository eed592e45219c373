"""Sweep mode on real servers: only temporary objects older than expirationDays are deleted.

The servers cannot backdate objects, so the sweep is run with a future `now` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devkit.naming import unique_name

from payload_operator.adapters.storage.base import ObjectStore
from payload_operator.adapters.storage.factory import open_store
from payload_operator.api.resource import Resource, resource_from_body
from payload_operator.api.spec import ManagementPolicy
from payload_operator.reconcile.tmp_sweep import sweep_tmp
from tests.storage.providers import AzureProvider, LocalProvider, Provider, S3Provider

TEMPORARY = ["dw/tmp/a", "dw/tmp/deep/b", "dw/tmp/c1", "dw/tmp/c2", "dw/tmp/c3", "dw/scratch/s"]
KEPT = ["dw/avro/ab/ab12", "dw/quarantine/ab12.json", "dw/tmpfile", "other/tmp/x", "dw/cache/c"]


@pytest.fixture(params=["moto", "azurite", "local"])
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> Provider:
    if request.param == "moto":
        return S3Provider("moto", request.getfixturevalue("moto_s3"), checks_credentials=False)
    if request.param == "azurite":
        return AzureProvider(request.getfixturevalue("azurite"))
    return LocalProvider(tmp_path)


@pytest.fixture
def bucket(provider: Provider) -> Iterator[tuple[Resource, ObjectStore]]:
    name = unique_name("sweep")
    provider.create_bucket(name)
    spec = provider.spec(name).to_wire() | {
        "prefix": "dw",
        "lifecycle": {"mode": "Sweep", "tmpPrefixes": ["tmp/", "scratch/"], "expirationDays": 10},
    }
    resource = resource_from_body({"metadata": {"namespace": "shop", "name": "orders"}, "spec": spec})
    store = open_store(resource.spec, provider.credentials)
    store.delete_batch_size = 2  # several provider batches even for a handful of objects
    for key in TEMPORARY + KEPT:
        store.put(key, b"payload")
    yield resource, store
    store.close()


def keys(store: ObjectStore) -> list[str]:
    return sorted(info.key for info in store.list(""))


def observing(resource: Resource) -> Resource:
    return replace(resource, spec=resource.spec.model_copy(update={"management_policy": ManagementPolicy.OBSERVE}))


def test_sweep_deletes_only_expired_temporary_objects(bucket: tuple[Resource, ObjectStore]) -> None:
    resource, store = bucket
    now = datetime.now(UTC)

    early = sweep_tmp(resource, store, now=now + timedelta(days=9))
    observed = sweep_tmp(observing(resource), store, now=now + timedelta(days=11))
    assert keys(store) == sorted(TEMPORARY + KEPT)
    swept = sweep_tmp(resource, store, now=now + timedelta(days=11))

    assert early.counts == {"listed": 6, "expired": 0, "deleted": 0, "failed": 0}
    assert observed.condition.reason == "Observed"
    assert observed.counts == {"listed": 6, "expired": 6, "deleted": 0, "failed": 0}
    assert swept.condition.is_true
    assert swept.condition.reason == "Swept"
    assert swept.counts == {"listed": 6, "expired": 6, "deleted": 6, "failed": 0}
    assert swept.status.last_sweep == swept.counts
    assert swept.status.last_sweep_time is not None
    assert keys(store) == sorted(KEPT)


def test_sweep_with_an_unsafe_prefix_deletes_nothing(bucket: tuple[Resource, ObjectStore]) -> None:
    resource, store = bucket
    assert resource.spec.lifecycle is not None
    unsafe: dict[str, Any] = {"tmp_prefixes": ["tmp/", "avro/"]}
    lifecycle = resource.spec.lifecycle.model_copy(update=unsafe)  # past validation, as if it had been skipped
    refused = replace(resource, spec=resource.spec.model_copy(update={"lifecycle": lifecycle}))

    outcome = sweep_tmp(refused, store, now=datetime.now(UTC) + timedelta(days=365))

    assert outcome.condition.reason == "UnsafePrefix"
    assert "nothing deleted" in outcome.condition.message
    assert keys(store) == sorted(TEMPORARY + KEPT)
