"""Build the ObjectStore a spec names: credentials, endpoint, timeouts, retries and pool size.

Every store gets short connect timeouts and few retries so a dead endpoint fails in seconds, and a
connection pool of `max_connections` so a hashing worker pool of that size never queues for sockets.
Without a Secret (`credentials is None`) each provider's own ambient chain is used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from payload_operator.adapters.storage.base import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    ObjectStore,
    StorageAccessDenied,
)
from payload_operator.adapters.storage.capped import capped_session
from payload_operator.adapters.storage.client_cache import ClientCache, fingerprint
from payload_operator.adapters.storage.local import LocalStore
from payload_operator.api.spec import AzureSpec, Driver, ExternalPayloadStorageSpec, GcsSpec, S3Spec
from payload_operator.core.secrets import SecretValues
from payload_operator.planning import keys

if TYPE_CHECKING:
    import requests
    from google.auth.credentials import Credentials

    from payload_operator.adapters.storage.azure import AzureStore
    from payload_operator.adapters.storage.gcs import GcsStore
    from payload_operator.adapters.storage.s3 import S3Store
    from payload_operator.adapters.storage.s3_reads import ReadSettings
    from payload_operator.adapters.storage.sigv4 import CredentialSource

# Each provider's SDK is imported only when a store of that provider is opened: together they cost
# about a second of start-up, which short CLI runs and Job pods would otherwise pay every time.

ATTEMPTS = 3  # first try plus two retries
AZURE_GET_CHUNK = 4 * 1024 * 1024  # also the first GET, which otherwise buffers up to 32 MiB per read
GCS_SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
GCS_DEFAULT_KEY = "service-account.json"
GCS_AMBIENT_ENVIRONMENT = ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT")


def open_store(
    spec: ExternalPayloadStorageSpec, credentials: SecretValues | None, *, max_connections: int = 32
) -> ObjectStore:
    """The store for `spec`, authenticated with the referenced Secret's data or, if None, ambiently."""
    root = keys.root(spec.key_prefix)
    if spec.driver is Driver.S3 and spec.s3:
        return _open_s3(spec.s3, credentials, root, max_connections)
    if spec.driver is Driver.GCS and spec.gcs:
        return _open_gcs(spec.gcs, credentials, root, max_connections)
    if spec.driver is Driver.AZURE and spec.azure:
        return _open_azure(spec.azure, credentials, root, max_connections)
    if spec.driver is Driver.LOCAL and spec.local:
        return LocalStore(spec.local.path)
    raise ValueError(f"spec.{spec.driver.value} must be set for driver {spec.driver.value}")


def _open_s3(s3: S3Spec, credentials: SecretValues | None, root: str, pool: int) -> S3Store:
    from payload_operator.adapters.storage.s3 import S3Store

    static: dict[str, str | None] = {}
    if credentials is not None:
        static = {
            "aws_access_key_id": _required(credentials, "accessKeyId"),
            "aws_secret_access_key": _required(credentials, "secretAccessKey"),
            "aws_session_token": credentials.get("sessionToken"),
        }
    key = fingerprint(s3.endpoint, s3.region, s3.force_path_style, pool, static)
    shared = S3_CLIENTS.get(key, lambda: _s3_client(s3, static, pool))
    return S3Store(shared.client, s3.bucket, credentials=shared.credentials, reads=shared.reads, root=root)


@dataclass(frozen=True)
class _S3Client:
    """A boto3 client with what reads beside it need: its credentials and its read settings."""

    client: Any
    credentials: CredentialSource | None
    reads: ReadSettings

    def close(self) -> None:
        self.client.close()


S3_CLIENTS: ClientCache[_S3Client] = ClientCache("s3", _S3Client.close)


def _s3_client(s3: S3Spec, static: dict[str, str | None], pool: int) -> _S3Client:
    """Built under the cache's lock: the one boto3 session is not safe to share while clients are created."""
    from botocore.config import Config
    from botocore.credentials import Credentials

    from payload_operator.adapters.storage.capped import cap_botocore_client
    from payload_operator.adapters.storage.s3_reads import ReadSettings, resolve_verify

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        # total_max_attempts counts the first try; botocore's "max_attempts" counts retries only.
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        max_pool_connections=pool,
        # SigV4 everywhere: botocore would otherwise presign with SigV2, which newer regions refuse.
        signature_version="s3v4",
        s3={"addressing_style": "path" if s3.force_path_style else "auto"},
        # Integrity is judged by the caller's own sha256 over the bytes, identically on every provider.
        response_checksum_validation="when_required",
    )
    botocore_session, session = _sessions()
    # `verify` resolved once and given to both: the client and the reads beside it trust the same CAs.
    verify = resolve_verify(botocore_session)
    client = session.client(
        "s3", region_name=s3.region, endpoint_url=s3.endpoint or None, config=config, verify=verify, **static
    )
    reads = ReadSettings.of_client(client, verify, attempts=ATTEMPTS)
    cap_botocore_client(client)
    if static:  # the Secret's keys are this client's, never the shared session's
        source: CredentialSource | None = Credentials(
            static["aws_access_key_id"], static["aws_secret_access_key"], static["aws_session_token"]
        )
    else:
        source = botocore_session.get_credentials()  # the ambient chain, resolved once per process
    return _S3Client(client, source, reads)


@cache
def _sessions() -> tuple[Any, Any]:
    """The process's one botocore session and the boto3 session over it: the loader reads the S3 service
    model once for every client. Called only under S3_CLIENTS' lock, so they are built once."""
    import boto3

    botocore_session = _botocore_session()
    return botocore_session, boto3.session.Session(botocore_session=botocore_session)


def _botocore_session() -> Any:
    """A botocore session whose parser reads ISO 8601 timestamps (every listed object has one) with the
    standard library; botocore's dateutil parser stays the fallback.

    Measured end to end (benchmarks/s3_listing.py: 10,000 objects listed through `S3Store.list`, best of 3,
    round-robin, on 2 cores under a competing load): Ceph RGW 5.45 s wall and 0.77 s CPU with this parser,
    11.2 s and 2.0 s with botocore's; on moto, whose own CPU bounds the listing, 0.66 s against 2.45 s CPU.
    The orphan audit and integrity's inventory list every object, so against a fast server botocore's
    parser would be most of their listing time.
    """
    import botocore.session
    from botocore.utils import parse_timestamp

    def timestamp(value: str) -> datetime:
        try:
            parsed = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            parsed = None
        if parsed is None or parsed.tzinfo is None:  # RFC 1123, epoch seconds, no zone: botocore decides
            return cast(datetime, parse_timestamp(value))
        return parsed

    session = botocore.session.get_session()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=timestamp)
    return session


def _open_gcs(gcs: GcsSpec, credentials: SecretValues | None, root: str, pool: int) -> GcsStore:
    from payload_operator.adapters.storage.gcs import GcsStore

    key_name = gcs.credentials_secret_ref.key if gcs.credentials_secret_ref else GCS_DEFAULT_KEY
    secret = _required(credentials, key_name) if credentials is not None else None
    # Without a Secret the environment decides: anonymous on an emulator, else Application Default credentials.
    ambient = None if credentials is not None else [os.environ.get(name) for name in GCS_AMBIENT_ENVIRONMENT]
    key = fingerprint(gcs.endpoint, pool, secret, ambient)
    client = GCS_CLIENTS.get(key, lambda: _gcs_client(gcs, credentials, pool))
    return GcsStore(client, gcs.bucket, root=root, timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS))


def _close_gcs(client: Any) -> None:
    client.close()


GCS_CLIENTS: ClientCache[Any] = ClientCache("gcs", _close_gcs)


def _gcs_client(gcs: GcsSpec, credentials: SecretValues | None, pool: int) -> Any:
    """A storage.Client whose service-account token is fetched once and shared by every bucket it serves."""
    import requests
    from google.auth.transport.requests import AuthorizedSession, Request
    from google.cloud import storage

    creds, project = _gcs_credentials(gcs, credentials)
    # The token endpoint (a key's token_uri, the tenant's choice) is read through a capped session too.
    token_requests = Request(capped_session(requests.Session()))
    session = _pooled(AuthorizedSession(creds, auth_request=token_requests), pool)  # type: ignore[no-untyped-call]
    options = {"api_endpoint": gcs.endpoint} if gcs.endpoint else None
    return storage.Client(project=project, credentials=creds, _http=session, client_options=options)


def _gcs_credentials(gcs: GcsSpec, credentials: SecretValues | None) -> tuple[Credentials, str | None]:
    """Service-account JSON from the Secret; else anonymous on an emulator; else Application Default."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError
    from google.oauth2 import service_account

    if credentials is not None:
        key = gcs.credentials_secret_ref.key if gcs.credentials_secret_ref else GCS_DEFAULT_KEY
        try:
            info = json.loads(_required(credentials, key))
            creds = service_account.Credentials.from_service_account_info(info, scopes=GCS_SCOPES)  # type: ignore[no-untyped-call]
        except (ValueError, TypeError, KeyError):  # never echo the parser's text: it quotes the JSON
            raise StorageAccessDenied(f"{credentials.source}: {key} is not service-account JSON") from None
        return creds, info.get("project_id")
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return AnonymousCredentials(), None  # type: ignore[no-untyped-call]
    try:
        creds, project = google.auth.default(scopes=GCS_SCOPES)
    except DefaultCredentialsError:
        raise StorageAccessDenied("GCS: no Application Default Credentials found") from None
    return creds, project


def _open_azure(azure: AzureSpec, credentials: SecretValues | None, root: str, pool: int) -> AzureStore:
    from payload_operator.adapters.storage.azure import AzureStore

    if credentials is not None:
        connection_string: str | None = _required(credentials, "connectionString")
    else:
        connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    # A connection string names its own endpoint (Azurite, sovereign clouds): account_url is not used.
    key = fingerprint(connection_string, None if connection_string else azure.account_url, pool)
    account = AZURE_ACCOUNTS.get(key, lambda: _azure_account(azure, connection_string, pool))
    # A container client from the service client shares its pipeline and connections; closing it leaves them.
    return AzureStore(account.service.get_container_client(azure.container), root=root)


@dataclass(frozen=True)
class _AzureAccount:
    """A BlobServiceClient and the identity it was built with (None: a connection string's key)."""

    service: Any
    identity: Any

    def close(self) -> None:
        self.service.close()
        if self.identity is not None:
            self.identity.close()


AZURE_ACCOUNTS: ClientCache[_AzureAccount] = ClientCache("azure", _AzureAccount.close)


def _azure_account(azure: AzureSpec, connection_string: str | None, pool: int) -> _AzureAccount:
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from azure.identity import DefaultAzureCredential
    from azure.storage.blob import BlobServiceClient, ExponentialRetry

    options: dict[str, Any] = {
        "transport": RequestsTransport(
            session=_pooled(requests.Session(), pool),
            connection_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
        ),
        # The storage SDK's default waits 15 s before the first retry; a dead endpoint must fail fast.
        "retry_policy": ExponentialRetry(
            initial_backoff=1, increment_base=2, retry_total=ATTEMPTS - 1, random_jitter_range=1
        ),
        "max_single_get_size": AZURE_GET_CHUNK,
        "max_chunk_get_size": AZURE_GET_CHUNK,
    }
    if connection_string:
        try:
            return _AzureAccount(BlobServiceClient.from_connection_string(connection_string, **options), None)
        except ValueError:  # never echo the parser's text: it may quote the connection string
            raise StorageAccessDenied("Azure: the connection string is malformed") from None
    identity = DefaultAzureCredential()
    return _AzureAccount(BlobServiceClient(azure.account_url, credential=identity, **options), identity)


def _pooled(session: requests.Session, size: int) -> requests.Session:
    """`session` with connection pools of `size` sockets per host (requests keeps only 10) and every
    non-streamed answer capped (`capped.py`)."""
    from requests.adapters import HTTPAdapter

    adapter = HTTPAdapter(pool_maxsize=size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return capped_session(session)


def _required(credentials: SecretValues, key: str) -> str:
    try:
        return credentials[key]
    except KeyError:
        raise StorageAccessDenied(f"{credentials.source} has no key {key}") from None
