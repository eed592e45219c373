"""The object key layout shared by the SDK and the server (contract §3).

    key = {prefix}/{codec}/{sha256[0:2]}/{sha256}     (prefix part omitted when empty)
    uri = {scheme}://{bucket}/{key}

Keeping it in one place means inventory listing, reference resolution, lifecycle safety checks and
quarantine paths cannot disagree about where payloads live.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

CODEC = "avro"
PAYLOAD_DIR = "avro/"
QUARANTINE_DIR = "quarantine/"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# URI schemes each driver's objects may be referenced with: the SDK's and the server's differ (§3).
SCHEMES_BY_DRIVER: dict[str, tuple[str, ...]] = {
    "s3": ("s3",),
    "gcs": ("gs", "gcs"),
    "azure": ("azure-blob", "azure"),
    "local": ("file",),
}


def root(prefix: str) -> str:
    """The key root for a spec prefix: "" or "a/b/" (always slash-terminated when non-empty)."""
    stripped = prefix.strip("/")
    return f"{stripped}/" if stripped else ""


def payload_prefix(prefix: str) -> str:
    """Where content-addressed payload objects live: <root>/avro/."""
    return root(prefix) + PAYLOAD_DIR


def payload_key(prefix: str, sha256: str, codec: str = CODEC) -> str:
    """The key of the object holding the payload with this sha256."""
    return f"{root(prefix)}{codec}/{sha256[:2]}/{sha256}"


def sha256_of_key(prefix: str, key: str) -> str | None:
    """The sha256 a payload key names, or None when the key is not a well-formed payload key."""
    base = payload_prefix(prefix)
    if not key.startswith(base):
        return None
    rest = key[len(base) :].split("/")
    if len(rest) != 2 or not SHA256_RE.match(rest[1]) or rest[0] != rest[1][:2]:
        return None
    return rest[1]


def shard_of(sha256: str, shards: int) -> int:
    """Stable shard index of a sha256: its key directory (first two hex digits) split into ranges."""
    return int(sha256[:2], 16) * shards // 256


def shard_prefixes(shard: int, shards: int) -> list[str]:
    """The two-hex-digit key directories (sha256[0:2]) a shard covers, so a shard lists only its own."""
    return [f"{d:02x}" for d in range(256) if shard_of(f"{d:02x}", shards) == shard]


def listing_prefixes(prefix: str, shard_index: int, shard_count: int) -> list[str]:
    """What a shard lists: all of <root>/avro/ when unsharded (one listing, which also finds stray keys
    outside the two-hex directories), else only its own <root>/avro/<xx>/ directories."""
    base = payload_prefix(prefix)
    if shard_count == 1:
        return [base]
    return [f"{base}{directory}/" for directory in shard_prefixes(shard_index, shard_count)]


def in_sample(sha256: str, ratio: float) -> bool:
    """Stable sampling by sha256: the same objects are chosen on every run."""
    return ratio >= 1.0 or int(sha256[-8:], 16) < ratio * 0x100000000


class ReferenceOutsideStorage(ValueError):
    """A reference that points outside the configured bucket or prefix; never read or deleted."""


def key_from_uri(uri: str, *, driver: str, bucket: str, prefix: str) -> str:
    """The object key of a Gen A URI, refusing anything outside the configured bucket and prefix."""
    parts = urlsplit(uri)
    if parts.scheme not in SCHEMES_BY_DRIVER.get(driver, ()):
        raise ReferenceOutsideStorage(f"scheme {parts.scheme!r} does not belong to driver {driver}")
    if driver == "local":
        path = unquote(parts.path)
        base = bucket.rstrip("/") + "/"
        if parts.netloc not in ("", "localhost") or not path.startswith(base):
            raise ReferenceOutsideStorage("file URI outside the local payload root")
        key = path[len(base) :]
    else:
        if parts.netloc != bucket:
            raise ReferenceOutsideStorage(f"bucket {parts.netloc!r} is not the configured one")
        key = unquote(parts.path.lstrip("/"))
    segments = key.split("/")
    if not key or any(s in ("", ".", "..") for s in segments):
        raise ReferenceOutsideStorage("key with empty, '.' or '..' segments")
    if not key.startswith(root(prefix)):
        raise ReferenceOutsideStorage("key outside the configured prefix")
    return key
