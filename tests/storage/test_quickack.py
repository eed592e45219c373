"""Reads acknowledge every response at once, also on a kept-alive connection (where Linux would
delay the ACK and a Nagle-writing server such as RGW's beast would hold the body back ~40 ms).
The effect on time is measured in benchmarks/integrity_hash.py; this checks the mechanism."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from devkit.httpserver import local_http_server

from payload_operator.adapters.storage import quickack

pytestmark = pytest.mark.skipif(quickack.TCP_QUICKACK is None, reason="TCP_QUICKACK is Linux-only")


class _Small(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like S3 servers
    connections: set[tuple[str, int]] = set()

    def do_GET(self) -> None:
        _Small.connections.add(self.client_address)
        body = b"x" * 100
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with local_http_server(_Small) as url:
        yield url


def test_each_response_on_a_kept_alive_connection_is_acknowledged_at_once(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    switches: list[int] = []
    original = socket.socket.setsockopt

    def recording(sock: socket.socket, level: int, option: int, value: Any, *rest: Any) -> None:
        if (level, option) == (socket.IPPROTO_TCP, quickack.TCP_QUICKACK):
            switches.append(value)
        original(sock, level, option, value, *rest)

    monkeypatch.setattr(socket.socket, "setsockopt", recording)
    _Small.connections.clear()
    pool = quickack.pool_manager(maxsize=1).connection_from_url(server)

    for _ in range(3):
        response = pool.urlopen("GET", "/k", preload_content=False)
        assert response.read() == b"x" * 100
        response.release_conn()

    assert len(_Small.connections) == 1  # one connection, reused
    assert switches == [1, 1, 1]
