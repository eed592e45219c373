"""Provider failures rebuilt as the operator's StorageError classes, without echoing credentials.

Provider exceptions can carry request headers, signed URLs or connection strings in their text, so
every message here is rebuilt from an error code, an HTTP status and the endpoint's host only, and
the original exception is never chained (`raise ... from None`).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from payload_operator.adapters.storage.base import (
    BucketNotFound,
    StorageAccessDenied,
    StorageError,
    StorageThrottled,
    StorageUnreachable,
)

BUCKET_MISSING_CODES = frozenset({"NoSuchBucket", "ContainerNotFound", "ContainerBeingDeleted"})
ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "AuthorizationResourceTypeMismatch",
        "AuthorizationSourceIPMismatch",
        "InsufficientAccountPermissions",
        "AccountIsDisabled",
        "forbidden",
        "unauthorized",
    }
)
THROTTLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ServerBusy",
        "TooManyRequests",
        "rateLimitExceeded",
        "userRateLimitExceeded",
    }
)
ACCESS_STATUSES = frozenset({401, 403})
THROTTLE_STATUSES = frozenset({429, 503})
NOT_FOUND = 404

Translator = Callable[[Exception], Exception | None]


def error_code(code: object) -> str:
    """A provider error code reduced to a short identifier (enum values unwrapped, odd characters dropped)."""
    text = str(getattr(code, "value", code) or "")
    return re.sub(r"[^A-Za-z0-9._-]", "", text)[:64]


def missing(key: str) -> FileNotFoundError:
    """The uniform "no such object" error; `filename` is the key, never a local path or URL."""
    return FileNotFoundError(errno.ENOENT, "no such object", key)


def from_response(provider: str, operation: str, status: int | None, code: object, key: str | None = None) -> Exception:
    """Classify an HTTP-level failure: a 404 on an object call means the object is gone, on a
    bucket-level call (key None) that the bucket is."""
    code_text = error_code(code)
    target = f" of {key}" if key is not None else ""
    detail = f"{provider} {operation}{target} failed: {code_text or 'error'} (HTTP {status or '?'})"
    if code_text in BUCKET_MISSING_CODES or (status == NOT_FOUND and key is None):
        return BucketNotFound(detail)
    if status == NOT_FOUND and key is not None:
        return missing(key)
    if status in ACCESS_STATUSES or code_text in ACCESS_CODES:
        return StorageAccessDenied(detail)
    if status in THROTTLE_STATUSES or code_text in THROTTLE_CODES:
        return StorageThrottled(detail)
    return StorageError(detail)


def unreachable(provider: str, operation: str, endpoint: str, exc: BaseException) -> StorageUnreachable:
    """The endpoint did not answer; only its scheme, host and port are named."""
    where = safe_endpoint(endpoint)
    return StorageUnreachable(f"{provider} {operation}: no answer from {where} ({type(exc).__name__})")


def safe_endpoint(url: str) -> str:
    """scheme://host[:port] of a URL, dropping user info, path and query (SAS tokens live there)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "the default endpoint"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


@contextmanager
def translated(translate: Translator) -> Iterator[None]:
    """Re-raise what `translate` maps an exception to (None: not a provider error, let it through)."""
    try:
        yield
    except Exception as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from None
