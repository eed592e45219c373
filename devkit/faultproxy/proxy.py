"""`FaultProxy`: a TCP/HTTP proxy on 127.0.0.1 that injects faults between a client and one server.

It runs its own asyncio loop in a daemon thread, listens on 127.0.0.1:0 and forwards to a target on
the loopback interface only. Rules are switched at runtime from any thread; every connection and
request is counted and logged with timestamps.

    with FaultProxy("http://127.0.0.1:9000") as proxy:      # HTTP mode: understands requests
        client = make_client(endpoint=proxy.url)
        proxy.status(503, path_prefix="/bucket", count=2)  # the next two matching requests get 503
        proxy.status(429, retry_after="3")                  # throttled until cleared
        proxy.delay(5.0, method="PUT")                      # hold PUTs 5 s before forwarding them
        proxy.delay(5.0, method="PUT", after_forward=True)  # forward at once, hold the answer 5 s
        proxy.drop(), proxy.reset(), proxy.truncate()      # close / RST / half a body, then abort
        proxy.latency = 0.2                                 # added to every request
        proxy.refuse = True                                 # RST every new connection
        proxy.sever()                                       # close the connections already open
        proxy.clear()
        proxy.requests.count(method="PUT", status=200), proxy.requests.find(writes=True)
        proxy.connections                                   # accepted connections so far

`FaultProxy(target, mode="tcp")` pipes bytes without reading them (TLS, any protocol): only
`latency` (before connecting upstream), `refuse` and connection counting apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from devkit.faultproxy import wire
from devkit.faultproxy.log import MAX_BODY, Exchange, ExchangeLog
from devkit.faultproxy.rules import Rule, Rules

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
Mode = Literal["http", "tcp"]
HOLD_TICK = 0.05  # how often a held request checks whether its client is still there


def _loopback_target(target: str) -> tuple[str, int]:
    parts = urlsplit(target if "://" in target else f"tcp://{target}")
    if parts.hostname not in LOOPBACK or parts.port is None:
        raise ValueError(f"the fault proxy only forwards to an explicit port on the loopback interface: {target!r}")
    return parts.hostname, parts.port


def _body(body: bytes | str | dict[str, Any] | list[Any] | None, status: int) -> bytes:
    if body is None:
        return json.dumps({"message": f"injected {status} by the fault proxy"}).encode()
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _abort(writer: asyncio.StreamWriter, *, rst: bool) -> None:
    """Close a connection: RST (linger 0, then abort) or a plain FIN."""
    if rst:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    else:
        writer.close()


async def _hold(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Wait `seconds`; False as soon as the client closes its end (a killed client is noticed at once)."""
    deadline = time.monotonic() + seconds
    while not reader.at_eof():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        await asyncio.sleep(min(remaining, HOLD_TICK))
    return False


class FaultProxy:
    """One listening port in front of one target (see the module docstring)."""

    def __init__(self, target: str, *, mode: Mode = "http") -> None:
        self.target_host, self.target_port = _loopback_target(target)
        self.mode = mode
        self.rules = Rules()
        self.requests = ExchangeLog()
        self.latency = 0.0
        self.refuse = False
        self._connections = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the proxy has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def start(self) -> FaultProxy:
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"faultproxy-{self.target_port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        self._loop = loop
        asyncio.run_coroutine_threadsafe(self._listen(), loop).result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=wire.MAX_HEAD)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self._sever()

    def stop(self) -> None:
        """Close the listener and every connection, and end the thread."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ switches
    def status(
        self,
        status: int = 503,
        *,
        retry_after: str | float | None = None,
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
        content_type: str = "application/json",
        **match: Any,
    ) -> Rule:
        """Answer matching requests with `status` instead of forwarding them."""
        after = None if retry_after is None else str(retry_after)
        return self.rules.add(
            Rule("status", status, retry_after=after, body=_body(body, status), content_type=content_type, **match)
        )

    def delay(self, seconds: float, *, after_forward: bool = False, **match: Any) -> Rule:
        """Hold matching requests `seconds` before forwarding them (or, `after_forward`, hold the answer)."""
        return self.rules.add(Rule("delay", seconds=seconds, after_forward=after_forward, **match))

    def drop(self, **match: Any) -> Rule:
        """Close the connection (FIN) instead of answering."""
        return self.rules.add(Rule("drop", **match))

    def reset(self, **match: Any) -> Rule:
        """Abort the connection (RST) instead of answering."""
        return self.rules.add(Rule("reset", **match))

    def truncate(self, **match: Any) -> Rule:
        """Forward, then send the answer's head and half its body, and abort."""
        return self.rules.add(Rule("truncate", **match))

    def sever(self) -> None:
        """Close every open connection, both ways (with `refuse`: a cut network path, long streams included)."""
        loop = self._loop
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self._sever(), loop).result(10)

    async def _sever(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def clear(self) -> None:
        """Remove every rule and switch (latency, refuse)."""
        self.rules.clear()
        self.latency = 0.0
        self.refuse = False

    # ------------------------------------------------------------------ connections
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        with self._lock:
            self._connections += 1
            number = self._connections
        try:
            if self.refuse:
                _abort(writer, rst=True)
                return
            if self.mode == "tcp":
                await self._pipe(reader, writer)
            else:
                await self._serve(number, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, wire.Closed):
            _abort(writer, rst=False)
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)
        up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError):
                sink.write_eof()

        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()

    async def _serve(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Requests of one client connection, one at a time, over one upstream connection."""
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                request = wire.parse_request(await wire.read_head(reader))
                head = request.head
                if (head.header("Expect") or "").lower() == "100-continue":
                    head = head.without("Expect")
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await writer.drain()
                body = await wire.read_body(reader, head, until_close=False)
                exchange = Exchange(
                    number, request.method, request.path, request.query, time.time(), body=body[:MAX_BODY]
                )
                self.requests.add(exchange)
                rule = self.rules.take(request.method, request.path, request.query)
                held = rule is not None and rule.kind == "delay" and not rule.after_forward
                wait = self.latency + (rule.seconds if rule is not None and held else 0.0)
                if not await _hold(reader, wait):  # the client went away while the request was held
                    self.requests.finish(exchange, None, "client-gone")
                    return
                if rule is not None and rule.kind in ("drop", "reset"):
                    self.requests.finish(exchange, None, rule.kind)
                    _abort(writer, rst=rule.kind == "reset")
                    return
                if rule is not None and rule.kind == "status":
                    self.requests.finish(exchange, rule.status, "status")  # logged before the client can see it
                    writer.write(wire.synthetic(rule.status, rule.body or b"", rule.content_type, rule.retry_after))
                    await writer.drain()
                    if head.wants_close:
                        writer.close()
                        return
                    continue
                if upstream is None:
                    try:
                        upstream = await asyncio.open_connection(self.target_host, self.target_port)
                    except OSError:
                        self.requests.finish(exchange, None, "upstream-refused")
                        _abort(writer, rst=True)
                        return
                up_reader, up_writer = upstream
                try:
                    up_writer.write(head.raw + body)
                    await up_writer.drain()
                    answer, answer_body, close = await wire.read_response(up_reader, request.method)
                except (ConnectionError, asyncio.IncompleteReadError, wire.Closed):
                    self.requests.finish(exchange, None, "upstream-error")
                    _abort(writer, rst=True)
                    return
                status = wire.status_of(answer)
                if rule is not None and rule.kind == "delay" and rule.after_forward:
                    self.requests.mark(exchange, "delay-answer")
                    if not await _hold(reader, rule.seconds):
                        self.requests.finish(exchange, status, "client-gone")
                        return
                if rule is not None and rule.kind == "truncate":
                    self.requests.finish(exchange, status, "truncate")
                    writer.write(answer.raw + answer_body[: len(answer_body) // 2])
                    await writer.drain()
                    _abort(writer, rst=True)
                    return
                self.requests.finish(exchange, status, rule.kind if rule else None)
                writer.write(answer.raw + answer_body)
                await writer.drain()
                if close or head.wants_close:
                    writer.close()
                    return
        except wire.Closed:
            writer.close()
        finally:
            if upstream is not None:
                upstream[1].close()
