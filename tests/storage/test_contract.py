"""The ObjectStore contract, run unchanged against every provider (see conftest.PROVIDERS)."""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from devkit.naming import unique_name

from payload_operator.adapters.storage.base import (
    BucketNotFound,
    ObjectStore,
    StorageAccessDenied,
    StorageError,
    StorageUnreachable,
)
from payload_operator.adapters.storage.bulk import delete_all
from payload_operator.adapters.storage.factory import open_store
from payload_operator.core.secrets import SecretValues
from tests.storage.providers import Provider

# Includes "a-c" < "a/b" < "a0": "-" sorts before "/" and "/" before "0", which a naive directory
# walk (visiting "a/" before "a-c") gets wrong.
KEYS = ["a-c", "a/b", "a/c/d", "a0", "avro/00/x", "b", "z"]
MIB = 1024 * 1024
FAIL_FAST_SECONDS = 20.0


def put_all(store: ObjectStore, keys: list[str]) -> None:
    for key in keys:
        store.put(key, key.encode())


def use_small_pages(store: ObjectStore) -> None:
    """Force several list pages where the adapter has a page-size knob (local has no pages)."""
    if hasattr(store, "page_size"):
        store.page_size = 2


def assert_no_secret(exc: BaseException, credentials: SecretValues | None) -> None:
    """Neither the message, the repr nor the printed traceback (chained causes included) shows a value."""
    rendered = f"{exc}\n{exc!r}\n" + "".join(traceback.format_exception(exc))
    for value in (credentials or {}).values():
        assert value not in rendered
        for line in value.split(";"):  # connection strings: no single part (AccountKey=...) either
            if "Key=" in line or "Signature=" in line:
                assert line not in rendered


def test_probe_passes_on_an_existing_bucket(store: ObjectStore) -> None:
    store.probe()


def test_list_is_in_key_order_across_pages_and_skips_folders(
    provider: Provider, bucket: str, store: ObjectStore
) -> None:
    put_all(store, KEYS)
    provider.add_folder(store, bucket, "a/empty")
    use_small_pages(store)

    listed = list(store.list(""))

    assert [o.key for o in listed] == sorted(KEYS)
    assert [o.size for o in listed] == [len(k) for k in sorted(KEYS)]


@pytest.mark.parametrize("start_after", ["a-c", "a/", "a/b", "a/c", "a/c/d", "a0", "avro/", "b", "y", "zz"])
def test_start_after_resumes_strictly_after(store: ObjectStore, start_after: str) -> None:
    put_all(store, KEYS)
    use_small_pages(store)

    listed = [o.key for o in store.list("", start_after=start_after)]

    assert listed == [k for k in sorted(KEYS) if k > start_after]


@pytest.mark.parametrize("prefix", ["a", "a/", "a/c/", "avro/00/", "nothing/"])
def test_list_by_prefix(store: ObjectStore, prefix: str) -> None:
    put_all(store, KEYS)

    assert [o.key for o in store.list(prefix)] == [k for k in sorted(KEYS) if k.startswith(prefix)]


def test_listed_and_stat_times_are_utc(store: ObjectStore) -> None:
    store.put("k", b"abc")

    listed = next(iter(store.list("")))
    stat = store.stat("k")

    assert stat is not None
    assert stat.size == 3
    for when in (listed.last_modified, stat.last_modified):
        assert when.utcoffset() == timedelta(0)


def test_stat_of_a_missing_key_is_none(store: ObjectStore) -> None:
    assert store.stat("absent/key") is None


def test_put_overwrites(store: ObjectStore) -> None:
    store.put("k", b"first")
    store.put("k", b"second!")

    assert b"".join(store.read_chunks("k")) == b"second!"


def test_multi_mib_object_streams_in_bounded_chunks(store: ObjectStore) -> None:
    data = os.urandom(5 * MIB + 123)
    store.put("big", data)

    chunks = list(store.read_chunks("big", chunk_size=MIB))

    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= MIB
    assert len(chunks) >= 6


def test_an_overwrite_during_a_read_never_mixes_bytes(provider: Provider, store: ObjectStore) -> None:
    if provider.name == "gcs":
        pytest.skip("gcs: the emulator ignores ?generation= on downloads (GCS itself pins it)")
    old, new = os.urandom(5 * MIB), os.urandom(5 * MIB)
    store.put("k", old)
    chunks = store.read_chunks("k", chunk_size=MIB)
    first = next(chunks)

    store.put("k", new)
    try:
        rest = b"".join(chunks)
    except StorageError:  # e.g. Azure's next ranged GET fails its If-Match on the old ETag
        return

    assert first + rest == old


@pytest.mark.parametrize("key", ["p/with space+plus", "p/tilde~and%25percent", "p/ünïcode/ключ", "p/a=b&c;d,e"])
def test_keys_that_need_encoding_read_back(store: ObjectStore, key: str) -> None:
    store.put(key, key.encode())

    assert b"".join(store.read_chunks(key)) == key.encode()


def test_a_listing_longer_than_a_first_page_is_complete(store: ObjectStore) -> None:
    keys = [f"avro/{i:03d}" for i in range(150)]  # the S3 adapter's first page holds 100
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: store.put(key, b"x"), keys))

    assert [o.key for o in store.list("avro/")] == keys


def test_reading_a_missing_key_raises_file_not_found(store: ObjectStore) -> None:
    with pytest.raises(FileNotFoundError) as raised:
        list(store.read_chunks("absent/key"))
    assert raised.value.filename == "absent/key"


def test_copy_is_complete_and_leaves_the_source(store: ObjectStore) -> None:
    data = os.urandom(MIB + 7)
    store.put("src/object", data)

    store.copy("src/object", "quarantine/object")

    assert b"".join(store.read_chunks("quarantine/object")) == data
    assert b"".join(store.read_chunks("src/object")) == data


def test_copy_of_a_missing_key_raises_file_not_found(store: ObjectStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.copy("absent/key", "quarantine/key")


def test_a_batch_larger_than_the_provider_takes_is_refused(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="at most"):
        store.delete_batch([f"k{i}" for i in range(store.delete_batch_size + 1)])


def test_a_full_batch_deletes_present_keys_and_counts_absent_ones(store: ObjectStore) -> None:
    present = ["avro/00/p1", "avro/01/p2", "tmp/p3"]
    put_all(store, present)
    absent = [f"absent/{i:04d}" for i in range(store.delete_batch_size - len(present))]

    result = store.delete_batch(present + absent)

    assert result.errors == {}
    assert result.deleted == present + absent
    assert list(store.list("")) == []


def test_delete_all_chunks_into_provider_batches(store: ObjectStore) -> None:
    put_all(store, KEYS)
    store.delete_batch_size = 3  # instance override: three provider calls for seven keys

    results = list(delete_all(store, iter(KEYS)))

    assert [len(r.deleted) for r in results] == [3, 3, 1]
    assert all(not r.errors for r in results)
    assert list(store.list("")) == []


def test_a_refused_delete_is_reported_per_key(provider: Provider, bucket: str, store: ObjectStore) -> None:
    put_all(store, KEYS)
    provider.refuse_delete(bucket, "a/b")

    result = store.delete_batch(KEYS)

    assert list(result.errors) == ["a/b"]
    assert result.errors["a/b"]  # the provider's code, e.g. AccessDenied, LeaseIdMissing, EISDIR
    assert result.deleted == [k for k in KEYS if k != "a/b"]


def test_a_missing_bucket_is_bucket_not_found(provider: Provider) -> None:
    missing = open_store(provider.spec(unique_name("missing")), provider.credentials)
    try:
        with pytest.raises(BucketNotFound) as raised:
            missing.probe()
        assert_no_secret(raised.value, provider.credentials)
        with pytest.raises(BucketNotFound):
            list(missing.list(""))
        with pytest.raises(BucketNotFound):
            missing.delete_batch(["a", "b"])
    finally:
        missing.close()


def test_a_dead_endpoint_fails_fast_as_unreachable(provider: Provider) -> None:
    spec, credentials = provider.dead()
    dead = open_store(spec, credentials)
    started = time.monotonic()
    try:
        with pytest.raises(StorageUnreachable) as raised:
            dead.probe()
    finally:
        dead.close()

    assert time.monotonic() - started < FAIL_FAST_SECONDS
    assert_no_secret(raised.value, credentials)


def test_wrong_credentials_are_access_denied(provider: Provider, bucket: str) -> None:
    spec, credentials = provider.wrong_credentials(bucket)
    refused = open_store(spec, credentials)
    try:
        with pytest.raises(StorageAccessDenied) as raised:
            refused.probe()
        assert_no_secret(raised.value, credentials)
        with pytest.raises(StorageAccessDenied) as raised:
            list(refused.read_chunks("any/key"))
        assert_no_secret(raised.value, credentials)
    finally:
        refused.close()


def test_one_store_serves_concurrent_reads(store: ObjectStore) -> None:
    blobs = {f"avro/{i:02x}/obj": os.urandom(256 * 1024 + i) for i in range(12)}
    for key, data in blobs.items():
        store.put(key, data)

    def digest(key: str) -> tuple[str, str]:
        sha = hashlib.sha256()
        for chunk in store.read_chunks(key, chunk_size=64 * 1024):
            sha.update(chunk)
        return key, sha.hexdigest()

    with ThreadPoolExecutor(max_workers=8) as pool:
        digests = list(pool.map(digest, list(blobs) * 3))

    assert digests == [(k, hashlib.sha256(blobs[k]).hexdigest()) for k in list(blobs) * 3]
