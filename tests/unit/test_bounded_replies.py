"""A server the user chose cannot grow the operator's memory or hold a call forever.

The peer is a real HTTP server on loopback answering 300 MiB (announced, or chunked without a length)
or dripping a byte at a time; the operator's server client must give up with a reason word, its
resident memory (psutil) barely moving, and within its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest
from devkit.hostile_http import ChunkedHugeReply, DrippingReply, HugeReply
from devkit.httpserver import local_http_server

from payload_operator.adapters.server import ResponseTooBig, ServerClient, ServerUnreachable

MAX_GROWTH = 64 << 20


@pytest.fixture(params=[HugeReply, ChunkedHugeReply], ids=["content-length", "chunked"])
def huge_server(request: pytest.FixtureRequest) -> Iterator[str]:
    with local_http_server(request.param) as url:
        yield url


async def test_a_300_mib_reply_is_abandoned_with_memory_bounded(huge_server: str) -> None:
    process = psutil.Process()
    before = process.memory_info().rss
    async with ServerClient(huge_server, "token-abcdefgh", timeout=30) as client:
        with pytest.raises(ResponseTooBig) as caught:
            await client.get_namespace("orders")
        with pytest.raises(ResponseTooBig):  # and history pages have their own, larger, cap
            async for _ in client.history_pages("orders", "wf", "run"):
                pass
    grown = process.memory_info().rss - before
    assert caught.value.reason == "ResponseTooLarge"
    assert "larger than" in str(caught.value)
    assert grown < MAX_GROWTH, f"RSS grew by {grown >> 20} MiB reading a 300 MiB reply"


async def test_a_dripping_reply_ends_at_the_total_deadline() -> None:
    with local_http_server(DrippingReply) as url:
        started = time.monotonic()
        async with ServerClient(url, "token-abcdefgh", timeout=1) as client:
            with pytest.raises(ServerUnreachable, match="timed out"):
                await client.get_namespace("orders")
        took = time.monotonic() - started
    assert took < 20, f"a 1 s deadline held the call for {took:.1f} s (the drip lasts 50 s)"
