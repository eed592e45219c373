"""HTTP peers that attack the client: a 300 MiB answer (announced or chunked) and one that drips for a minute.

`HugeReply.served` counts the requests answered (across both huge variants), so a test can tell a
retried read from none.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler

HUGE = 300 << 20
CHUNK = b"[" + b"0," * ((1 << 20) // 2 - 1) + b"0]"  # 1 MiB of JSON-looking bytes, sent over and over


class HugeReply(BaseHTTPRequestHandler):
    """Every GET, POST or PUT gets 300 MiB of JSON-looking bytes with a Content-Length."""

    chunked = False
    served = 0
    """Requests answered so far (by any subclass)."""

    def log_message(self, *_: object) -> None:
        pass

    def _answer(self) -> None:
        HugeReply.served += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        try:
            for _ in range(HUGE // len(CHUNK)):
                self.wfile.write(f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n" if self.chunked else CHUNK)
        except OSError:
            return  # the client gave up, as it should

    do_GET = do_POST = do_PUT = _answer


class ChunkedHugeReply(HugeReply):
    """The same 300 MiB, chunked, without announcing its length."""

    chunked = True


class DrippingReply(BaseHTTPRequestHandler):
    """Announces 1000 bytes and sends one every 50 ms: never silent long enough for a read timeout."""

    def log_message(self, *_: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            return
