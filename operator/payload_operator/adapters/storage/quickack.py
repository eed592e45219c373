"""A urllib3 pool whose connections acknowledge a response at once (Linux TCP_QUICKACK).

Why: a server that writes a response's headers and its body in two writes with Nagle's algorithm on
(Ceph RGW's beast frontend does by default: `tcp_nodelay=0`) holds the body back until the headers
are acknowledged, and Linux delays that ACK on a kept-alive connection by about 40 ms. Every small
object then costs 40 ms instead of one. Quick-ack mode is not sticky (the kernel drops back to
delayed ACKs once the connection looks interactive again), so it is switched on after each request
is sent, just before its response is read. Where the option does not exist it changes nothing.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import HTTPResponse

TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def _acknowledge_at_once(sock: socket.socket | None) -> None:
    if TCP_QUICKACK is not None and sock is not None:
        with contextlib.suppress(OSError):  # not a TCP socket (e.g. a proxy tunnel): delayed ACKs it is
            sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)


class QuickAckHTTPConnection(HTTPConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        _acknowledge_at_once(self.sock)
        return super().getresponse()


class QuickAckHTTPSConnection(HTTPSConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        _acknowledge_at_once(self.sock)
        return super().getresponse()


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = QuickAckHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = QuickAckHTTPSConnection


_POOL_CLASSES = {"http": _HTTPPool, "https": _HTTPSPool}


def pool_manager(**options: Any) -> urllib3.PoolManager:
    """A PoolManager (same options) whose HTTP and HTTPS connections acknowledge responses at once."""
    manager = urllib3.PoolManager(**options)
    manager.pool_classes_by_scheme = _POOL_CLASSES
    return manager


def proxy_manager(proxy_url: str, **options: Any) -> urllib3.ProxyManager:
    """A ProxyManager (same options) whose connections acknowledge responses at once."""
    manager = urllib3.ProxyManager(proxy_url, **options)
    manager.pool_classes_by_scheme = _POOL_CLASSES
    return manager
