"""Just enough HTTP/1.1 framing to pass messages through untouched: heads, lengths, chunked bodies.

Bodies are kept as raw bytes (chunked ones still chunk-encoded), so a forwarded message is byte for
byte what the peer sent; only `Expect: 100-continue` is answered by the proxy itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 1 << 20
NO_BODY_STATUSES = frozenset({204, 304})


class Closed(Exception):
    """The peer closed the connection between messages (or sent garbage instead of a head)."""


@dataclass
class Head:
    """A request or status line and its headers, plus the raw bytes to forward."""

    first_line: str
    headers: list[tuple[str, str]]
    raw: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def without(self, name: str) -> Head:
        """The same head with one header removed (raw bytes rebuilt)."""
        kept = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        lines = [self.first_line, *(f"{k}: {v}" for k, v in kept)]
        return Head(self.first_line, kept, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    @property
    def wants_close(self) -> bool:
        return (self.header("Connection") or "").lower() == "close" or self.first_line.endswith("HTTP/1.0")


@dataclass
class Request:
    head: Head
    method: str
    path: str
    query: str


async def read_head(reader: asyncio.StreamReader) -> Head:
    """The next message head; Closed when the peer is gone (or the head is not HTTP)."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
        raise Closed from exc
    lines = raw.decode("latin-1").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise Closed(f"malformed header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return Head(lines[0], headers, raw)


def parse_request(head: Head) -> Request:
    parts = head.first_line.split(" ")
    if len(parts) != 3:
        raise Closed(f"malformed request line {head.first_line!r}")
    split = urlsplit(parts[1])
    return Request(head, parts[0].upper(), split.path or "/", split.query)


def status_of(head: Head) -> int:
    parts = head.first_line.split(" ", 2)
    try:
        return int(parts[1])
    except (IndexError, ValueError) as exc:
        raise Closed(f"malformed status line {head.first_line!r}") from exc


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, still chunk-encoded (trailers included)."""
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, up to the empty line
                trailer = await reader.readuntil(b"\r\n")
                parts.append(trailer)
                if trailer == b"\r\n":
                    return b"".join(parts)
        parts.append(await reader.readexactly(size + 2))


async def read_body(reader: asyncio.StreamReader, head: Head, *, until_close: bool) -> bytes:
    """The body a head announces; with neither length nor chunking, everything up to EOF if `until_close`."""
    if "chunked" in (head.header("Transfer-Encoding") or "").lower():
        return await read_chunked(reader)
    length = head.header("Content-Length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read() if until_close else b""


async def read_response(reader: asyncio.StreamReader, method: str) -> tuple[Head, bytes, bool]:
    """The final response to a request: (head, raw body, whether the connection must close after it)."""
    while True:
        head = await read_head(reader)
        status = status_of(head)
        if status >= 200 or status == 101:
            break  # 1xx interim answers are dropped (the proxy answers Expect itself)
    framed = head.header("Content-Length") is not None or "chunked" in (head.header("Transfer-Encoding") or "")
    if method == "HEAD" or status in NO_BODY_STATUSES or status < 200:
        return head, b"", head.wants_close
    body = await read_body(reader, head, until_close=not framed)
    return head, body, head.wants_close or not framed


def synthetic(status: int, body: bytes, content_type: str, retry_after: str | None) -> bytes:
    """A whole response the proxy makes up (the connection stays usable)."""
    reason = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    lines = [
        f"HTTP/1.1 {status} {reason.get(status, 'Injected')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "X-Fault-Proxy: injected",
    ]
    if retry_after is not None:
        lines.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
