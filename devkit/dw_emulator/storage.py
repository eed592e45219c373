"""Backing stores behind the namespace storage policy.

``local`` really writes files (``file://`` URIs, content-addressed). ``s3``/``gcs``/``azure``/
``custom`` are simulated provider drivers writing to a pluggable :class:`ObjectStore` (default:
in-memory); whether a provider driver is *available* in this "runtime" is a switch per driver.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from .faults import Faults


class StorageError(Exception):
    """A driver operation failed (the real server surfaces these as errors/blocked runs)."""


class ObjectMissing(StorageError):
    """The object does not exist."""


class ObjectStore(Protocol):
    """Minimal object store keyed by full URI (``s3://bucket/key``)."""

    def put(self, uri: str, data: bytes) -> None: ...
    def get(self, uri: str) -> bytes: ...
    def delete(self, uri: str) -> None: ...
    def exists(self, uri: str) -> bool: ...


class MemoryObjectStore:
    """Thread-safe in-memory :class:`ObjectStore`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, bytes] = {}

    def put(self, uri: str, data: bytes) -> None:
        with self._lock:
            self._objects[uri] = bytes(data)

    def get(self, uri: str) -> bytes:
        with self._lock:
            try:
                return self._objects[uri]
            except KeyError:
                raise ObjectMissing(f"External payload object [{uri}] does not exist.") from None

    def delete(self, uri: str) -> None:
        with self._lock:
            self._objects.pop(uri, None)

    def exists(self, uri: str) -> bool:
        with self._lock:
            return uri in self._objects

    def uris(self) -> list[str]:
        with self._lock:
            return sorted(self._objects)


class Driver(Protocol):
    name: str

    def uri_for(self, sha256: str, codec: str) -> str: ...
    def put(self, data: bytes, sha256: str, codec: str) -> str: ...
    def get(self, uri: str) -> bytes: ...
    def delete(self, uri: str) -> None: ...
    def exists(self, uri: str) -> bool: ...


def object_key(prefix: str, codec: str, sha256: str) -> str:
    """``{prefix}/{codec}/{sha256[0:2]}/{sha256}`` (prefix part omitted when empty)."""
    trimmed = prefix.strip("/")
    head = f"{trimmed}/" if trimmed else ""
    return f"{head}{codec}/{sha256[:2]}/{sha256}"


class LocalDriver:
    """Local filesystem driver: ``file://{root}/{codec}/{sha[0:2]}/{sha}``."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def uri_for(self, sha256: str, codec: str) -> str:
        return (self.root / object_key("", codec, sha256)).as_uri()

    def path_for(self, uri: str) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise StorageError("External payload URI is outside the local storage root.")
        raw = Path(unquote(parsed.path))
        path = raw.resolve()
        if ".." in raw.parts or not path.is_relative_to(self.root) or path == self.root:
            raise StorageError("External payload URI is outside the local storage root.")
        return path

    def put(self, data: bytes, sha256: str, codec: str) -> str:
        uri = self.uri_for(sha256, codec)
        path = self.path_for(uri)
        if not path.exists():  # the server writes only if the file does not exist yet
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return uri

    def get(self, uri: str) -> bytes:
        path = self.path_for(uri)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"External payload object [{uri}] does not exist.") from None

    def delete(self, uri: str) -> None:
        self.path_for(uri).unlink(missing_ok=True)

    def exists(self, uri: str) -> bool:
        return self.path_for(uri).is_file()


class ProviderDriver:
    """Simulated ``s3``/``gcs``/``azure``/``custom`` driver: ``{scheme}://{bucket}/{key}``."""

    def __init__(self, name: str, scheme: str, bucket: str, prefix: str, store: ObjectStore) -> None:
        self.name = name
        self.scheme = scheme
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.store = store

    def uri_for(self, sha256: str, codec: str) -> str:
        return f"{self.scheme}://{self.bucket}/{object_key(self.prefix, codec, sha256)}"

    def check(self, uri: str) -> None:
        scheme, sep, rest = uri.partition("://")
        if not sep or scheme != self.scheme:
            raise StorageError(f"External payload URI scheme must be [{self.scheme}].")
        bucket, _, key = rest.partition("/")
        if bucket != self.bucket:
            raise StorageError(f"External payload URI bucket must be [{self.bucket}].")
        if not key or ".." in key.split("/") or not key.startswith(self.prefix):
            raise StorageError("External payload URI is outside the configured storage prefix.")

    def put(self, data: bytes, sha256: str, codec: str) -> str:
        uri = self.uri_for(sha256, codec)
        if not self.store.exists(uri):
            self.store.put(uri, data)
        return uri

    def get(self, uri: str) -> bytes:
        self.check(uri)
        return self.store.get(uri)

    def delete(self, uri: str) -> None:
        self.check(uri)
        self.store.delete(uri)

    def exists(self, uri: str) -> bool:
        self.check(uri)
        return self.store.exists(uri)


class FaultyDriver:
    """Wraps a driver; every operation raises while ``faults.storage_errors`` is on."""

    def __init__(self, inner: Driver, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults
        self.name = inner.name

    def _guard(self) -> None:
        if self.faults.storage_errors:
            raise StorageError("Injected storage failure.")

    def uri_for(self, sha256: str, codec: str) -> str:
        return self.inner.uri_for(sha256, codec)

    def put(self, data: bytes, sha256: str, codec: str) -> str:
        self._guard()
        return self.inner.put(data, sha256, codec)

    def get(self, uri: str) -> bytes:
        self._guard()
        return self.inner.get(uri)

    def delete(self, uri: str) -> None:
        self._guard()
        self.inner.delete(uri)

    def exists(self, uri: str) -> bool:
        self._guard()
        return self.inner.exists(uri)


class DriverSwitches:
    """Which provider drivers this emulated runtime can use, and the filesystem disks that build them.

    Default: ``s3`` available (the published image ships an S3 adapter), ``gcs``/``azure``/
    ``custom`` unavailable (no disk in the stock ``config/filesystems.php``). An available driver
    ``d`` has the disk ``external-payload-d``; ``add_disk`` defines more (a custom server config).
    """

    def __init__(self, available: Iterable[str] = ("s3",)) -> None:
        self._lock = threading.Lock()
        self._available = dict.fromkeys(("s3", "gcs", "azure", "custom"), False)
        self._disks: dict[str, str] = {}
        for name in available:
            self._available[name] = True

    def set(self, driver: str, available: bool = True) -> None:
        with self._lock:
            self._available[driver] = available

    def is_available(self, driver: str) -> bool:
        with self._lock:
            return self._available.get(driver, False)

    def add_disk(self, name: str, driver: str) -> None:
        with self._lock:
            self._disks[name] = driver

    def disk_driver(self, name: str) -> str | None:
        """The provider driver a configured disk builds, or None when the server has no such disk."""
        with self._lock:
            if name in self._disks:
                return self._disks[name]
            driver = name.removeprefix("external-payload-")
            return driver if name != driver and self._available.get(driver, False) else None

    def snapshot(self) -> dict[str, bool]:
        with self._lock:
            return dict(self._available)


@dataclass(frozen=True)
class Resolution:
    """Outcome of resolving a namespace policy to a usable driver."""

    status: str  # unconfigured | disabled | available | driver_unavailable
    driver_name: str | None
    driver: Driver | None
    configuration_error: str | None = None


def policy_config(policy: dict[str, Any] | None) -> dict[str, Any]:
    config = (policy or {}).get("config")
    return config if isinstance(config, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


class StorageResolver:
    """Resolves a namespace's stored policy the way ``NamespaceExternalPayloadStorage`` does."""

    def __init__(self, *, local_root: Path, switches: DriverSwitches, faults: Faults, gen_b: bool) -> None:
        self.gen_b = gen_b
        self.local_root = Path(local_root).resolve()
        self.switches = switches
        self.faults = faults
        self._default_store = MemoryObjectStore()
        self._stores: dict[str, ObjectStore] = {}

    @property
    def objects(self) -> MemoryObjectStore:
        """The default in-memory store shared by the provider drivers."""
        return self._default_store

    def store_for(self, driver: str) -> ObjectStore:
        return self._stores.get(driver, self._default_store)

    def set_store(self, driver: str, store: ObjectStore) -> None:
        self._stores[driver] = store

    def default_root(self, namespace: str) -> Path:
        """Server default ``storage/app/external-payloads/{namespace}``."""
        return self.local_root / namespace

    def _natural(self, namespace: str, policy: dict[str, Any] | None) -> Resolution:
        if not policy:
            return Resolution("unconfigured", None, None)
        driver_name = _str(policy.get("driver"))
        if policy.get("enabled", True) is False:
            return Resolution("disabled", driver_name, None)
        config = policy_config(policy)
        if driver_name == "local":
            uri = _str(config.get("uri"))
            if uri is None:
                return Resolution("available", "local", LocalDriver(self.default_root(namespace)))
            if not uri.startswith("file://"):
                return Resolution("driver_unavailable", "local", None, "external_payload_storage_uri_invalid")
            return Resolution("available", "local", LocalDriver(Path(unquote(urlparse(uri).path))))
        if driver_name not in ("s3", "gcs", "azure", "custom"):
            return Resolution("driver_unavailable", driver_name, None, "external_payload_storage_driver_unsupported")
        if not self.switches.is_available(driver_name):
            return Resolution("driver_unavailable", driver_name, None, "external_payload_storage_driver_unsupported")
        # Gen A builds a provider driver only from config.disk plus config.bucket; Gen B falls back to its
        # fixed external-payload-s3 disk for s3 and needs a disk for the others (captured exchanges, §8).
        disk = _str(config.get("disk")) or ("external-payload-s3" if self.gen_b and driver_name == "s3" else None)
        if disk is None or self.switches.disk_driver(disk) != driver_name:
            return Resolution("driver_unavailable", driver_name, None, "external_payload_storage_disk_missing")
        bucket = _str(config.get("bucket")) or _str(config.get("container")) or _str(config.get("name"))
        if bucket is None:
            return Resolution("driver_unavailable", driver_name, None, "external_payload_storage_bucket_missing")
        scheme = _str(config.get("scheme")) if driver_name == "custom" else driver_name
        if scheme is None:
            return Resolution("driver_unavailable", driver_name, None, "external_payload_storage_scheme_missing")
        prefix = _str(config.get("prefix")) or ""
        driver = ProviderDriver(driver_name, scheme, bucket, prefix, self.store_for(driver_name))
        return Resolution("available", driver_name, driver)

    def resolve(self, namespace: str, policy: dict[str, Any] | None) -> Resolution:
        natural = self._natural(namespace, policy)
        override = self.faults.storage_status
        if override is not None and override != natural.status:
            driver = natural.driver if override == "available" else None
            error = None if override == "available" else (natural.configuration_error or "injected")
            return Resolution(override, natural.driver_name, driver, error)
        if natural.driver is not None:
            return Resolution(natural.status, natural.driver_name, FaultyDriver(natural.driver, self.faults))
        return natural
