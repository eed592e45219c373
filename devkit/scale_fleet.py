"""The scale drill's fleet: which storage each resource uses, and the buckets and manifests that makes.

Every provider sits behind its own counting proxy (the operator reaches storage only through it, so the
drill sees every read and write); local resources get a directory each, whose files the drill snapshots
instead. Resources take the drivers in turn (resource i gets `drivers[i % len(drivers)]`), so any fleet
size has the same mix.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.faultproxy import FaultProxy
from devkit.manifests import eps_manifest, s3_secret, secret_manifest, token_secret
from devkit.services import AzuriteEndpoint, GcsEndpoint, S3Endpoint

LIFECYCLE = {"tmpPrefixes": ["tmp/"], "expirationDays": 10}
AZURE_SECRET = "dw-azure"
LIFECYCLE_DRIVERS = ("s3", "gcs")  # Azure rules need the ARM management plane, local ones a sweep; neither here


@dataclass(frozen=True)
class Backends:
    """The storage a fleet can use; a driver is in the mix when its backend is given."""

    s3: tuple[FaultProxy, S3Endpoint] | None = None
    gcs: tuple[FaultProxy, GcsEndpoint] | None = None
    azure: tuple[FaultProxy, AzuriteEndpoint] | None = None
    local_root: Path | None = None
    clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def drivers(self) -> tuple[str, ...]:
        given = {"local": self.local_root, "s3": self.s3, "gcs": self.gcs, "azure": self.azure}
        return tuple(name for name, backend in given.items() if backend is not None)

    @property
    def proxies(self) -> dict[str, FaultProxy]:
        """Driver -> the proxy its resources reach storage through."""
        pairs = {"s3": self.s3, "gcs": self.gcs, "azure": self.azure}
        return {name: pair[0] for name, pair in pairs.items() if pair is not None}

    def operator_env(self) -> dict[str, str]:
        """What the operator needs to reach the emulators (GCS takes anonymous credentials on an emulator)."""
        return {"STORAGE_EMULATOR_HOST": self.gcs[0].url} if self.gcs else {}


def driver_of(index: int, drivers: tuple[str, ...]) -> str:
    """Resources take the drivers in turn."""
    return drivers[index % len(drivers)]


def bucket_name(index: int, suffix: str) -> str:
    """Valid as an S3 and GCS bucket and an Azure container name."""
    return f"scale-{index:04d}-{suffix}"


def secrets(namespace: str, backends: Backends) -> list[dict[str, Any]]:
    """The Secrets every namespace holds: the admin token, and the credentials its drivers need."""
    made = [token_secret(namespace)]
    if backends.s3:
        made.append(s3_secret(namespace))
    if backends.azure:
        proxy, endpoint = backends.azure
        made.append(secret_manifest(namespace, AZURE_SECRET, {"connectionString": azure_connection(proxy, endpoint)}))
    return made


def azure_connection(proxy: FaultProxy, endpoint: AzuriteEndpoint) -> str:
    """Azurite's connection string with its blob endpoint moved to the proxy."""
    parts = [p for p in endpoint.connection_string.split(";") if p and not p.startswith("BlobEndpoint=")]
    return ";".join([*parts, f"BlobEndpoint={proxy.url}/{endpoint.account_name}"]) + ";"


def storage_block(driver: str, index: int, suffix: str, backends: Backends) -> dict[str, Any]:
    """Create the resource's bucket (container, directory) and return its `driver` and provider block."""
    name = bucket_name(index, suffix)
    if driver == "local":
        assert backends.local_root is not None
        path = backends.local_root / name
        path.mkdir(parents=True, exist_ok=True)
        return {"driver": "local", "local": {"path": str(path)}}
    maker: dict[str, Callable[[str, Backends], dict[str, Any]]] = {"s3": _s3, "gcs": _gcs, "azure": _azure}
    return maker[driver](name, backends)


def _client(backends: Backends, driver: str, make: Callable[[], Any]) -> Any:
    if driver not in backends.clients:
        backends.clients[driver] = make()
    return backends.clients[driver]


def _s3(name: str, backends: Backends) -> dict[str, Any]:
    assert backends.s3 is not None
    proxy, endpoint = backends.s3
    _client(backends, "s3", endpoint.client).create_bucket(Bucket=name)
    block = {"bucket": name, "endpoint": proxy.url, "forcePathStyle": True, "credentialsSecretRef": {"name": "dw-s3"}}
    return {"driver": "s3", "s3": block}


def _gcs(name: str, backends: Backends) -> dict[str, Any]:
    assert backends.gcs is not None
    proxy, endpoint = backends.gcs
    _client(backends, "gcs", endpoint.client).create_bucket(name)
    return {"driver": "gcs", "gcs": {"bucket": name, "endpoint": proxy.url}}


def _azure(name: str, backends: Backends) -> dict[str, Any]:
    assert backends.azure is not None
    proxy, endpoint = backends.azure
    _client(backends, "azure", endpoint.client).create_container(name)
    block = {
        "container": name,
        "accountUrl": f"{proxy.url}/{endpoint.account_name}",
        "credentialsSecretRef": {"name": AZURE_SECRET},
    }
    return {"driver": "azure", "azure": block}


def runs_block(scheduled: bool, storm: bool) -> dict[str, Any]:
    """Retention (and integrity) in the operator's process: scheduled ones run at creation and then daily or
    weekly; with `storm`, every other resource carries a suspended retention block that run-now can start."""
    audit = {"mode": "DryRun", "minAge": "1h"}
    retention: dict[str, Any] = {"schedule": "@daily", "serverPasses": False, "orphanAudit": audit}
    if scheduled:
        integrity = {"schedule": "0 3 * * 0", "mode": "Both"}
        return {"retention": retention, "integrity": integrity, "runner": {"type": "InProcess"}}
    if storm:
        return {"retention": retention | {"suspend": True}, "runner": {"type": "InProcess"}}
    return {}


def local_files(root: Path | None) -> dict[str, tuple[int, int]]:
    """Every file under the local payload roots: path -> (size, mtime ns); a write at rest changes it."""
    if root is None:
        return {}
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            stat = (Path(directory) / name).stat()
            found[os.path.join(directory, name)] = (stat.st_size, stat.st_mtime_ns)
    return found


def manifest(
    namespace: str,
    index: int,
    storage: dict[str, Any],
    runs: dict[str, Any],
    *,
    url: str,
    dw_namespace: str,
    resync: int,
) -> dict[str, Any]:
    """One resource: its own server namespace, its storage, lifecycle rules where the driver has them."""
    lifecycle: dict[str, Any] = {"lifecycle": LIFECYCLE} if storage["driver"] in LIFECYCLE_DRIVERS else {}
    return eps_manifest(
        namespace,
        f"payloads-{index:04d}",
        url=url,
        dw_namespaces=[dw_namespace],
        resync=resync,
        timeout=15,
        prefix="dw",
        **storage,
        **lifecycle,
        **runs,
    )
