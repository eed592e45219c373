"""AWS Signature Version 4 in the Authorization header of an S3 GET, with the day's signing key cached.

Why: hashing many small objects is bound by the client's CPU per request. botocore's presigner costs
about 90 µs a URL, and the long signed query string costs urllib3 about as much again to re-encode;
this signs a GET for a short path in about 15 µs (end to end against Ceph RGW, with quickack.py: an
integrity run 1.36x as fast as with `get_object`, docs/benchmarks.md). Whatever needs judgement still
comes from botocore: the (refreshable) credentials, and, read off its own SigV4-presigned URL for one
probe key, the endpoint, the addressing style (bucket in the path or in the host name) and the signing
region; the connection settings come from its client too (s3_reads.py).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
PROBE_KEY = "k"
"""The key of the presigned URL `Endpoint.from_presigned_url` reads the endpoint from."""


class FrozenCredentials(Protocol):
    access_key: str
    secret_key: str
    token: str | None


class CredentialSource(Protocol):
    """botocore's Credentials: `get_frozen_credentials` refreshes expiring ones, thread-safely."""

    def get_frozen_credentials(self) -> FrozenCredentials: ...


@dataclass(frozen=True)
class Endpoint:
    """Where a bucket's objects are read: origin, Host header, path before the key, signing region."""

    origin: str
    host: str
    base_path: str
    region: str

    @classmethod
    def from_presigned_url(cls, url: str) -> Endpoint:
        """Read the endpoint off botocore's SigV4-presigned GET URL for `PROBE_KEY`."""
        parts = urlsplit(url)
        scope = parse_qs(parts.query).get("X-Amz-Credential", [""])[0].split("/")
        if not parts.path.endswith("/" + PROBE_KEY) or len(scope) != 5 or scope[3] != "s3":
            raise ValueError("not a SigV4-presigned S3 URL for the probe key")
        return cls(f"{parts.scheme}://{parts.netloc}", parts.netloc, parts.path[: -len(PROBE_KEY)], scope[2])


class GetSigner:
    """Signs GETs of one bucket's keys; safe to share between threads."""

    def __init__(self, endpoint: Endpoint, credentials: CredentialSource) -> None:
        self.endpoint = endpoint
        self._credentials = credentials
        self._signing_key: tuple[str, str, bytes] = ("", "", b"")  # (secret, day, key)

    def path(self, key: str) -> str:
        """The request path of `key`, encoded as S3 signs it (every byte but unreserved ones and /)."""
        return self.endpoint.base_path + quote(key, safe="/~")

    def headers(self, path: str, now: float | None = None) -> dict[str, str]:
        """The headers that authenticate a GET of `path` (from `path()`) at `now` (default: the clock)."""
        credentials = self._credentials.get_frozen_credentials()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        day = amz_date[:8]
        headers = {"host": self.endpoint.host, "x-amz-content-sha256": UNSIGNED_PAYLOAD, "x-amz-date": amz_date}
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        signed = ";".join(headers)  # already in the sorted order SigV4 wants
        canonical = "".join(
            ("GET\n", path, "\n\n", *(f"{name}:{value}\n" for name, value in headers.items()), "\n", signed)
        )
        scope = f"{day}/{self.endpoint.region}/s3/aws4_request"
        digest = hashlib.sha256(f"{canonical}\n{UNSIGNED_PAYLOAD}".encode()).hexdigest()
        string_to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"
        key = self._key(credentials.secret_key, day)
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
        return headers

    def _key(self, secret: str, day: str) -> bytes:
        """The signing key for `day`, derived once a day (or when the secret changes)."""
        cached_secret, cached_day, key = self._signing_key
        if (cached_secret, cached_day) != (secret, day):
            key = f"AWS4{secret}".encode()
            for part in (day, self.endpoint.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._signing_key = (secret, day, key)
        return key
