"""Real storage servers for tests, each on a free port, each a context manager.

    with start_moto() as s3:            # S3Endpoint (moto server: stores lifecycle rules, never enforces them)
    with start_rgw() as s3:             # S3Endpoint (Ceph radosgw: lifecycle enforced, 1 day = 10 s)
    with start_azurite() as az:         # AzuriteEndpoint (Azurite blob service, in memory)
    with start_gcs_emulator() as gcs:   # GcsEndpoint (gcp-storage-emulator, in memory)

Each waits for readiness against a deadline and stops what it started on exit.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.procs import (
    REPO_ROOT,
    ManagedProcess,
    ServiceStartError,
    free_port,
    free_ports,
    http_responds,
    make_workdir,
    remove_workdir,
    tail,
    venv_bin,
    wait_until_ready,
)
from devkit.waiting import wait_for

START_TIMEOUT = 60.0
RGW_START_TIMEOUT = 120.0

# The Azurite development account. Its key is published in Microsoft's documentation (not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

CEPH_BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "ceph", "ceph-authtool", "monmaptool", "radosgw-admin")


class ServiceUnavailable(RuntimeError):
    """The service's software is not installed here (tests may skip; CI must not)."""


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    workdir: Path | None = field(default=None, compare=False, repr=False)

    def client(self, **kwargs: Any) -> Any:
        """A boto3 S3 client for this endpoint (path-style addressing)."""
        import boto3
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"})
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
            **kwargs,
        )


@dataclass(frozen=True)
class AzuriteEndpoint:
    url: str  # blob service URL including the account: http://127.0.0.1:PORT/devstoreaccount1
    connection_string: str
    account_name: str = AZURITE_ACCOUNT
    account_key: str = field(default=AZURITE_KEY, repr=False)

    def client(self) -> Any:
        """An azure.storage.blob.BlobServiceClient for this endpoint."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)


@dataclass(frozen=True)
class GcsEndpoint:
    url: str  # use as STORAGE_EMULATOR_HOST
    project: str = "test-project"

    def client(self) -> Any:
        """A google.cloud.storage.Client for this emulator (anonymous credentials, no env var needed)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=self.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.url},
        )


# --------------------------------------------------------------------- moto
@contextmanager
def start_moto(timeout: float = START_TIMEOUT, *, tls: tuple[Path, Path] | None = None) -> Iterator[S3Endpoint]:
    """moto's S3 server. Any credentials are accepted; these are fixed dummies. With `tls` (a certificate
    and its key, PEM files) it speaks HTTPS only; clients must trust the certificate's issuer."""
    workdir = make_workdir("payload-operator-moto-")
    port = free_port()
    tls_args = ["--ssl-cert", str(tls[0]), "--ssl-key", str(tls[1])] if tls else []
    proc = ManagedProcess(
        "moto_server",
        [venv_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port), *tls_args],
        workdir / "moto.log",
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    try:
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        context = ssl.create_default_context(cafile=str(tls[0])) if tls else None
        wait_until_ready(
            lambda: http_responds(f"{url}/moto-api/", context=context), timeout=timeout, what="moto", procs=[proc]
        )
        yield S3Endpoint(url=url, access_key="testing", secret_key="testing", workdir=workdir)
    finally:
        proc.stop()
        remove_workdir(workdir)


# --------------------------------------------------------------------- Ceph RGW
def ceph_missing() -> list[str]:
    return [b for b in CEPH_BINARIES if shutil.which(b) is None]


@contextmanager
def start_rgw(timeout: float = RGW_START_TIMEOUT, settings: Mapping[str, str] | None = None) -> Iterator[S3Endpoint]:
    """Ceph radosgw via scripts/rgw-up.sh (1 mon + 1 memstore OSD + rgw; lifecycle day = 10 s).
    `settings` are the script's optional environment (RGW_MEMSTORE_BYTES, RGW_FRONTEND_OPTIONS).

    Raises ServiceUnavailable if the Ceph packages are missing.
    """
    missing = ceph_missing()
    if missing:
        raise ServiceUnavailable(
            "Ceph RGW needs apt packages ceph-mon ceph-osd radosgw ceph-common (missing: "
            + ", ".join(missing)
            + "); run `make bootstrap`"
        )
    workdir = make_workdir("payload-operator-rgw-")
    up, down = REPO_ROOT / "scripts" / "rgw-up.sh", REPO_ROOT / "scripts" / "rgw-down.sh"
    log_path = workdir / "rgw-up.log"
    try:
        for attempt in range(3):
            s3_port, mon_port = free_ports(2)
            env = {**os.environ, **(settings or {}), "RGW_START_TIMEOUT": str(int(timeout))}
            # own session: the daemons fork into the background; output to a file, never to a pipe
            # (a daemon inheriting the pipe would keep it open and block the read forever)
            with log_path.open("ab") as log:
                proc = subprocess.run(
                    ["bash", str(up), str(workdir / "ceph"), str(s3_port), str(mon_port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    timeout=timeout + 60,
                    check=False,
                )
            if proc.returncode == 0:
                break
            logs = tail(log_path, 60)
            ceph_logs = "\n".join(
                f"--- {p.name}:\n{tail(p, 30)}" for p in sorted((workdir / "ceph" / "log").glob("*.log"))
            )
            in_use = "Address already in use" in ceph_logs or "address already in use" in ceph_logs
            if in_use and attempt < 2:
                continue
            raise ServiceStartError(f"rgw-up.sh failed ({proc.returncode}):\n{logs}\n{ceph_logs}")
        endpoint = S3Endpoint(
            url=f"http://127.0.0.1:{s3_port}", access_key="testkey", secret_key="testsecret", workdir=workdir
        )
        # the gateway answers before the user is usable everywhere; require an authenticated call
        client = endpoint.client()
        wait_for(client.list_buckets, timeout=30, interval=0.2, message="RGW S3 user not usable")
        yield endpoint
    finally:
        subprocess.run(["bash", str(down), str(workdir / "ceph")], check=False, capture_output=True, timeout=120)
        remove_workdir(workdir)


# --------------------------------------------------------------------- Azurite
def azurite_bin() -> Path:
    path = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not path.exists():
        raise ServiceStartError(f"{path} missing: run `npm ci` in {REPO_ROOT} (or `make bootstrap`)")
    return path


def azurite_connection_string(port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


@contextmanager
def start_azurite(timeout: float = START_TIMEOUT) -> Iterator[AzuriteEndpoint]:
    workdir = make_workdir("payload-operator-azurite-")
    port = free_port()
    proc = ManagedProcess(
        "azurite-blob",
        [
            str(azurite_bin()),
            "--blobHost", "127.0.0.1", "--blobPort", str(port),
            "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
        ],
        workdir / "azurite.log",
        cwd=workdir,  # --location is refused together with --inMemoryPersistence; stray files land here
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
        wait_until_ready(lambda: http_responds(url), timeout=timeout, what="azurite", procs=[proc])
        yield AzuriteEndpoint(url=url, connection_string=azurite_connection_string(port))
    finally:
        proc.stop()
        remove_workdir(workdir)


# --------------------------------------------------------------------- GCS emulator
@contextmanager
def start_gcs_emulator(timeout: float = START_TIMEOUT) -> Iterator[GcsEndpoint]:
    workdir = make_workdir("payload-operator-gcs-")
    port = free_port()
    proc = ManagedProcess(
        "gcp-storage-emulator",
        [venv_bin("gcp-storage-emulator"), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
        workdir / "gcs.log",
        cwd=workdir,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(
            lambda: http_responds(f"{url}/storage/v1/b?project=test-project"),
            timeout=timeout,
            what="gcp-storage-emulator",
            procs=[proc],
        )
        yield GcsEndpoint(url=url)
    finally:
        proc.stop()
        remove_workdir(workdir)
