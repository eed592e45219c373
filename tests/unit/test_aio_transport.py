"""The server client on aiohttp's connections sends what it always sent and fails the way callers expect.

A real HTTP server on loopback records each request as it arrived (path as sent, headers, body, and the
client port, which tells connections apart).
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from devkit.httpserver import local_http_server, send_json

from payload_operator.adapters.server import ServerClient, ServerUnreachable

TOKEN = "transport-test-admin-token"


class Recorder(BaseHTTPRequestHandler):
    """Answers every call with a small JSON object, remembering what arrived."""

    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def log_message(self, *_: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        with Recorder.lock:
            Recorder.seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": self.rfile.read(length) if length else b"",
                    "port": self.client_address[1],
                }
            )
        body = b'{"external_payload_storage": {"driver": "s3"}}'
        send_json(self, body)

    do_GET = do_PUT = _answer


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.setattr(Recorder, "seen", [])
    return Recorder.seen


async def test_a_namespace_named_dot_dot_stays_inside_its_path_segment(recorded: list[dict[str, Any]]) -> None:
    with local_http_server(Recorder) as url:
        async with ServerClient(url, TOKEN) as client:
            await client.get_namespace("..")
            await client.get_namespace("a/b")
    assert [r["path"] for r in recorded] == ["/api/namespaces/%2E%2E", "/api/namespaces/a%2Fb"]


async def test_calls_carry_the_token_namespace_and_body_once_over_one_kept_connection(
    recorded: list[dict[str, Any]],
) -> None:
    with local_http_server(Recorder) as url:
        async with ServerClient(url, TOKEN) as client:
            await client.get_namespace("orders")
            await client.put_external_storage("orders", {"driver": "s3", "enabled": True})
    got, put = recorded
    for request in recorded:
        assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert request["headers"]["X-Namespace"] == "orders"
        assert request["headers"]["Accept-Encoding"] == "identity"
    assert put["method"] == "PUT"
    assert put["headers"]["Content-Type"] == "application/json"
    assert json.loads(put["body"]) == {"driver": "s3", "enabled": True}
    assert got["port"] == put["port"], "the second call opened a new connection"


async def test_a_server_that_refuses_connections_is_unreachable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with ServerClient(f"http://127.0.0.1:{port}", TOKEN) as client:
        with pytest.raises(ServerUnreachable, match="ConnectError") as caught:
            await client.get_namespace("orders")
    assert caught.value.reason == "ServerUnreachable"
    assert TOKEN not in str(caught.value)
