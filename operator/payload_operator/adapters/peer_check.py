"""Judge every connection by the address it reached, not by the name it was made for (DNS rebinding).

The tenant policy resolves a URL's host and judges the addresses before anything is sent; the client
resolves again when it connects. A name that answers a public address to the first lookup and
127.0.0.1 or 169.254.169.254 to the second would carry the admin token to the loopback or metadata
service. The check here runs on the connected socket's peer address, before a byte is written.
"""

from __future__ import annotations

import ipaddress
import typing
from collections.abc import Callable

import httpcore
import httpx

from payload_operator.planning.tenancy import Address

PeerCheck = Callable[[Address], None]
"""Raises when a connection to this address must not be used."""


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, closing every TCP connection whose peer the check refuses."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, check: PeerCheck) -> None:
        self._inner = inner
        self._check = check

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        try:
            self._check(_address(stream.get_extra_info("server_addr")))
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _address(server_addr: object) -> Address:
    host = str(server_addr[0]) if isinstance(server_addr, tuple) and server_addr else ""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def checked_transport(check: PeerCheck, **options: typing.Any) -> httpx.AsyncHTTPTransport:
    """An httpx transport (`options` as AsyncHTTPTransport takes them) whose connections pass `check`.

    httpx has no public setting for httpcore's network backend; the pool's `_network_backend` is where
    every connection is made (tests/unit/test_peer_check.py fails if it moves).
    """
    transport = httpx.AsyncHTTPTransport(**options)
    pool = typing.cast(typing.Any, transport)._pool
    pool._network_backend = _CheckedBackend(pool._network_backend, check)
    return transport
