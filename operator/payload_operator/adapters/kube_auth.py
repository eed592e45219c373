"""How the operator's Kubernetes client proves who it is: a bearer token that follows its file, client certs
that leave no file behind.

Bound ServiceAccount tokens expire (about an hour) and the kubelet rewrites the mounted file well before
that, so a token read once at start stops working while the operator runs on. The token is re-read when the
file changes (a `stat` per request: microseconds) and once more after a 401, as client-go does.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx


class TokenFileAuth(httpx.Auth):
    """`Authorization: <scheme> <token>` with the token read from a file that may be rotated."""

    def __init__(self, path: Path, scheme: str = "Bearer") -> None:
        self._path = path
        self._scheme = scheme
        self._stamp: tuple[int, int, int] | None = None
        self._header = ""

    def _current(self, *, reread: bool = False) -> str:
        """The header for the file as it is now; the last good one while the file is missing or empty
        (the kubelet swaps a symlink to rotate it), so a bad moment ends as a 401, never as a crash."""
        try:
            stat = self._path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if reread or stamp != self._stamp:
                token = self._path.read_text().strip()
                if token:
                    self._header, self._stamp = f"{self._scheme} {token}", stamp
        except (OSError, UnicodeDecodeError):
            pass
        return self._header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent = self._current()
        request.headers["Authorization"] = sent
        response = yield request
        if response.status_code == 401:
            fresh = self._current(reread=True)
            if fresh != sent:  # rotated within the file's timestamp resolution: try the new token once
                request.headers["Authorization"] = fresh
                yield request


def ssl_context(info: Any) -> ssl.SSLContext | bool:
    """TLS settings of a Kopf ConnectionInfo; inline client cert and key are loaded and their files removed.

    Python's ssl module loads a certificate chain only from files (no in-memory API), so inline material
    is written into a private temporary directory (mode 0700) and the directory is removed as soon as the
    context has loaded it: the key lives on only inside the context.
    """
    if info.insecure:
        return False
    context = ssl.create_default_context(cafile=info.ca_path or None)
    if info.ca_data:
        context.load_verify_locations(cadata=base64.b64decode(info.ca_data).decode())
    cert, key = info.certificate_path, info.private_key_path
    with tempfile.TemporaryDirectory(prefix="payload-operator-") as directory:
        if info.certificate_data:
            cert = _private_file(Path(directory, "tls.crt"), info.certificate_data)
        if info.private_key_data:
            key = _private_file(Path(directory, "tls.key"), info.private_key_data)
        if cert:
            context.load_cert_chain(cert, key or None)
    return context


def _private_file(path: Path, data: str | bytes) -> str:
    """Kubeconfig data is base64 text; Kopf hands bytes through as they are."""
    path.touch(mode=0o600)
    path.write_bytes(base64.b64decode(data) if isinstance(data, str) else data)
    return str(path)
