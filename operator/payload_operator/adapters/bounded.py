"""HTTP answers read with a size cap and a total deadline.

A peer the operator does not control (a user-chosen `server.url`, a proxy, a busy API server) must not
be able to grow the operator's memory or hold one of its workers forever: the body is streamed and
abandoned as soon as it passes the cap, and the whole exchange (connect, headers, body) has one deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

NO_COMPRESSION = {"Accept-Encoding": "identity"}
"""Ask for uncompressed answers, so the cap counts what is held in memory, not a compressed bomb."""


class ResponseTooLarge(Exception):
    """The answer announced or sent more than the cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"answer larger than {limit} bytes; abandoned")
        self.limit = limit


class ResponseDeadline(Exception):
    """The whole exchange took longer than its deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class BoundedResponse:
    """Status, headers and the body, read whole but never beyond the cap."""

    status_code: int
    headers: httpx.Headers
    content: bytes


async def _read(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(limit)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise ResponseTooLarge(limit)
    return bytes(body)


async def bounded_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    limit: int,
    deadline: float,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> BoundedResponse:
    """One request whose answer is at most `limit` bytes and complete within `deadline` seconds.

    Raises ResponseTooLarge, ResponseDeadline, or httpx.TransportError as httpx does.
    """
    try:
        async with asyncio.timeout(deadline):
            request_headers = NO_COMPRESSION | dict(headers or {})
            async with client.stream(method, url, json=json, params=params, headers=request_headers) as response:
                content = await _read(response, limit)
                return BoundedResponse(response.status_code, response.headers, content)
    except TimeoutError as exc:
        raise ResponseDeadline(deadline) from exc
