"""Provider answers that the SDKs read whole, read with a size cap and a deadline instead.

boto3, google-cloud-storage and the Azure SDKs read every non-streamed answer (listings, lifecycle
configurations, management policies, metadata, token endpoints) into memory. The endpoint may be a
tenant's choice, so an oversized or endless answer must become a storage error, not the operator's
memory. Streamed answers (integrity's object reads, hashed chunk by chunk) are left alone: their
callers already read them piece by piece.

Both SDK families read the body through the urllib3 response's `stream()`: requests in
`Response.content`, botocore in `AWSResponse.content`. The hooks here swap that raw response for one
whose `stream()` stops at the cap before anything reads it: a requests response hook, and for botocore
a wrapper of its HTTP session that reads the body itself where botocore's session would have.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from payload_operator.adapters.storage.base import StorageError, StorageUnreachable

if TYPE_CHECKING:
    import requests

ANSWER_MAX_BYTES = 16 << 20
"""Largest non-streamed provider answer. The biggest real ones are listing pages: 1000 S3 keys or 5000
Azure blobs with their metadata come to a few MiB; a lifecycle configuration or management policy is at
most a few hundred KiB. The server's history pages have the same bound (adapters/server.py)."""
ANSWER_DEADLINE_SECONDS = 120.0
"""Longest time to read one such answer: the read timeout bounds each silence, this a slow drip."""


class AnswerTooLarge(StorageError):
    """A provider answer passed the cap; it was abandoned and its connection closed."""

    reason = "ResponseTooLarge"


class AnswerTooSlow(StorageUnreachable):
    """A provider answer dripped in for longer than its deadline; it was abandoned."""


class _CappedRaw:
    """A urllib3 response whose whole-body reads stop at the cap; everything else is passed through."""

    def __init__(self, raw: Any, limit: int, deadline: float) -> None:
        self._raw = raw
        self._limit = limit
        self._until = time.monotonic() + deadline
        self._deadline = deadline

    def stream(self, amt: int | None = 2**16, decode_content: bool | None = None) -> Iterator[bytes]:
        total = 0
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            total += len(chunk)
            if total > self._limit:
                self._raw.close()  # the connection is dropped, never handed back to the pool half read
                raise AnswerTooLarge(f"provider answer larger than {self._limit} bytes; abandoned")
            if time.monotonic() > self._until:
                self._raw.close()
                raise AnswerTooSlow(f"provider answer not complete within {self._deadline:g} s; abandoned")
            yield chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _guarded(raw: Any, headers: Any, limit: int) -> _CappedRaw:
    """`raw` wrapped; an answer announcing more than the cap is refused before a byte is read."""
    declared = str(headers.get("Content-Length") or "")
    if declared.isdigit() and int(declared) > limit:
        raw.close()
        raise AnswerTooLarge(f"provider answer of {declared} bytes is larger than {limit} bytes; not read")
    return _CappedRaw(raw, limit, ANSWER_DEADLINE_SECONDS)


# ------------------------------------------------------------------------------ requests (GCS, Azure)
def _cap_requests_answer(response: requests.Response, *_: Any, stream: bool = False, **__: Any) -> requests.Response:
    """requests' response hook: runs before Session.send reads a non-streamed body."""
    if not stream:
        response.raw = _guarded(response.raw, response.headers, ANSWER_MAX_BYTES)
    return response


def capped_session(session: requests.Session) -> requests.Session:
    """`session` with every non-streamed answer capped (google-cloud-storage, azure-core's RequestsTransport)."""
    session.hooks["response"].append(_cap_requests_answer)
    return session


# ------------------------------------------------------------------------------------- botocore (S3)
class _CappedHttpSession:
    """botocore's HTTP session, reading non-streamed answers itself, capped, where botocore reads them whole."""

    def __init__(self, inner: Any, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def send(self, request: Any) -> Any:
        if request.stream_output:  # GetObject: the caller reads the body in pieces
            return self._inner.send(request)
        request.stream_output = True  # so botocore hands the answer over unread
        try:
            response = self._inner.send(request)
        finally:
            request.stream_output = False
        from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
        from urllib3.exceptions import HTTPError
        from urllib3.exceptions import ReadTimeoutError as ReadTimeout

        response.raw = _guarded(response.raw, response.headers, self._limit)
        try:
            response.content  # noqa: B018 -- read now, as botocore would have, with its error mapping
        except ReadTimeout as exc:
            raise ReadTimeoutError(endpoint_url=request.url, error=exc) from None
        except HTTPError as exc:
            raise ConnectionClosedError(error=exc, request=request, endpoint_url=request.url) from None
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def cap_botocore_client(client: Any) -> Any:
    """`client` with every non-streamed answer capped.

    botocore has no public setting for its HTTP session; the endpoint's `http_session` attribute is the
    one place every request passes (tests/drills/test_oversized_provider_answers.py fails if it moves).
    """
    endpoint = client._endpoint
    endpoint.http_session = _CappedHttpSession(endpoint.http_session, ANSWER_MAX_BYTES)
    return client
