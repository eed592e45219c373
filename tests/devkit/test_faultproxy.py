"""The fault proxy itself: what a client behind it sees in each mode, and what the server behind it gets."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
from devkit.faultproxy import FaultProxy
from devkit.httpserver import local_http_server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, bytes]] = []

    def log_message(self, *_: Any) -> None:
        pass

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, body))
        return body

    def do_GET(self) -> None:
        self._record()
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"alpha-", b"beta-", b"gamma"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/until-close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"no length, ends with the connection")
            self.close_connection = True
            return
        payload = f"hello {self.path}".encode() * 10
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_HEAD(self) -> None:
        self._record()
        self.send_response(200)
        self.send_header("Content-Length", "1234")
        self.end_headers()

    def do_PUT(self) -> None:
        body = self._record()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT


@pytest.fixture
def upstream() -> Iterator[str]:
    _Handler.seen = []
    with local_http_server(_Handler) as url:
        yield url


@pytest.fixture
def proxy(upstream: str) -> Iterator[FaultProxy]:
    with FaultProxy(upstream) as running:
        yield running


def test_requests_pass_through_unchanged_and_are_counted(proxy: FaultProxy) -> None:
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        assert client.get("/a").text == "hello /a" * 10
        assert client.put("/b?x=1", content=b"payload").content == b"payload"
        assert client.head("/c").headers["Content-Length"] == "1234"
        assert client.get("/chunked").text == "alpha-beta-gamma"
    assert [(e.method, e.target, e.status) for e in proxy.requests.all()] == [
        ("GET", "/a", 200),
        ("PUT", "/b?x=1", 200),
        ("HEAD", "/c", 200),
        ("GET", "/chunked", 200),
    ]
    assert proxy.connections == 1, "keep-alive: one client connection, one upstream connection"
    assert proxy.requests.count(writes=True) == 1
    assert _Handler.seen[1] == ("PUT", "/b?x=1", b"payload")


def test_a_body_without_length_ends_with_the_connection(proxy: FaultProxy) -> None:
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        assert client.get("/until-close").text == "no length, ends with the connection"
        assert client.get("/after").status_code == 200
    assert proxy.connections == 2


def test_injected_statuses_never_reach_the_server(proxy: FaultProxy) -> None:
    proxy.status(503, path_prefix="/x", count=2)
    proxy.status(429, retry_after=7, method="PUT")
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        codes = [client.get("/x").status_code for _ in range(3)]
        throttled = client.put("/y", content=b"z")
    assert codes == [503, 503, 200]
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "7")
    assert throttled.json() == {"message": "injected 429 by the fault proxy"}
    assert [(m, p) for m, p, _ in _Handler.seen] == [("GET", "/x")]
    assert proxy.requests.count(fault="status") == 3


def test_drop_reset_and_truncate_break_the_exchange_as_announced(proxy: FaultProxy) -> None:
    proxy.drop(path_prefix="/drop")
    proxy.reset(path_prefix="/reset")
    proxy.truncate(path_prefix="/cut")
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/drop")
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.get("/reset")
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get("/cut")
        assert client.get("/fine").status_code == 200
    assert [m for m, _p, _b in _Handler.seen] == ["GET", "GET"], "only /cut and /fine were forwarded"
    assert [e.fault for e in proxy.requests.all()] == ["drop", "reset", "truncate", None]


def test_a_held_request_reaches_the_server_only_after_the_delay(proxy: FaultProxy) -> None:
    proxy.delay(0.5, method="PUT", count=1)
    started = time.monotonic()
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        assert client.put("/slow", content=b"1").status_code == 200
    assert time.monotonic() - started >= 0.5
    assert proxy.requests.find(path_prefix="/slow")[0].fault == "delay"


def test_a_held_answer_has_already_reached_the_server(proxy: FaultProxy) -> None:
    proxy.delay(3, method="PUT", after_forward=True, count=1)
    outcome: dict[str, Any] = {}

    def call() -> None:
        with httpx.Client(base_url=proxy.url, timeout=1) as client:
            try:
                client.put("/landed", content=b"1")
            except httpx.ReadTimeout as exc:
                outcome["error"] = exc

    worker = threading.Thread(target=call)
    worker.start()
    assert proxy.requests.wait_for(1, timeout=60, fault="delay-answer")
    assert ("PUT", "/landed", b"1") in _Handler.seen
    worker.join(10)
    assert isinstance(outcome.get("error"), httpx.ReadTimeout)
    assert proxy.requests.wait_for(1, timeout=60, fault="client-gone")


def test_expect_continue_is_answered_by_the_proxy(proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"abc")
        answer = b""
        while not answer.endswith(b"abc"):
            answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")
    assert _Handler.seen == [("PUT", "/e", b"abc")]


def test_refused_connections_and_tcp_mode(upstream: str) -> None:
    with FaultProxy(upstream, mode="tcp") as tcp:
        with httpx.Client(base_url=tcp.url, timeout=5) as client:
            assert client.get("/piped").status_code == 200
            tcp.refuse = True
            with httpx.Client(base_url=tcp.url, timeout=5) as fresh, pytest.raises(httpx.TransportError):
                fresh.get("/refused")
        assert tcp.connections == 2
    assert [p for _m, p, _b in _Handler.seen] == ["/piped"]


def test_sever_closes_open_connections(upstream: str) -> None:
    with FaultProxy(upstream, mode="tcp") as tcp, socket.create_connection(("127.0.0.1", tcp.port), timeout=5) as sock:
        sock.sendall(b"GET /kept HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1."), "the connection is piped"
        tcp.refuse = True
        tcp.sever()
        sock.settimeout(10)  # a connection left open would time out here and fail the test
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(4096):
                pass  # the rest of the answer, then the close


def test_only_loopback_targets_are_accepted() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://example.com:80")
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://127.0.0.1")
