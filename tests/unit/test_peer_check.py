"""DNS rebinding: a server URL whose name resolves to a public address when the tenant policy judges it, and
to loopback when the client connects. The admin token must not reach the loopback listener.

The resolver is in-process (socket.getaddrinfo replaced): the first lookup of the name answers a public
address, every later one 127.0.0.1, where a recorder listens for the Authorization header.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from devkit.httpserver import local_http_server, send_json

from payload_operator.adapters.server import PeerRefused, ServerClient
from payload_operator.adapters.tenancy import Admission
from payload_operator.api.resource import Resource, resource_from_body
from payload_operator.planning.tenancy import DENIED, TenantPolicy

NAME = "rebind.drill.test"
PUBLIC = "203.0.113.10"
TOKEN = "rebinding-drill-admin-token"


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET like the server's namespace route, remembering the Authorization it was sent."""

    seen: list[str] = []
    lock = threading.Lock()

    def log_message(self, *_: object) -> None:
        pass

    def do_GET(self) -> None:
        with Recorder.lock:
            Recorder.seen.append(self.headers.get("Authorization", ""))
        body = b'{"name": "orders"}'
        send_json(self, body)


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """socket.getaddrinfo answering NAME with PUBLIC once, then 127.0.0.1; yields the answers given."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if (host.decode() if isinstance(host, bytes) else host) != NAME:  # anyio asks with IDNA bytes
            return real(host, port, *args, **kwargs)
        answers.append(PUBLIC if not answers else "127.0.0.1")
        return real(answers[-1], port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(Recorder, "seen", [])
    return answers


def _resource(url: str) -> Resource:
    server = {"url": url, "tokenSecretRef": {"name": "dw-admin"}, "namespaces": ["orders"]}
    body = {"server": server, "driver": "s3", "s3": {"bucket": "dw-payloads", "credentialsSecretRef": {"name": "k"}}}
    return resource_from_body({"metadata": {"namespace": "team-a", "name": "p", "uid": "u"}, "spec": body})


async def _admitted_call(admission: Admission, resource: Resource) -> None:
    assert await admission.violations(resource) == []  # judged by the first answer: a public address
    check = await admission.server_peer_check(resource)
    async with ServerClient.for_server(resource.spec.server, TOKEN, peer_check=check) as client:
        await client.request("GET", "/api/namespaces/orders")


def test_a_name_rebound_to_loopback_after_the_check_gets_no_token(rebinding: list[str]) -> None:
    with local_http_server(Recorder) as url:
        resource = _resource(url.replace("127.0.0.1", NAME))
        with pytest.raises(PeerRefused) as refused:
            asyncio.run(_admitted_call(Admission(TenantPolicy()), resource))
    assert rebinding == [PUBLIC, "127.0.0.1"]  # the client did resolve again, and got loopback
    assert refused.value.reason == DENIED
    assert "connected to 127.0.0.1" in str(refused.value)
    assert "loopback" in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert Recorder.seen == []


def test_without_the_peer_check_the_rebound_name_gets_the_token(rebinding: list[str]) -> None:
    """The attack is real: the same calls without the check hand the token to the loopback listener."""
    with local_http_server(Recorder) as url:
        resource = _resource(url.replace("127.0.0.1", NAME))

        async def unchecked() -> None:
            assert await Admission(TenantPolicy()).violations(resource) == []
            async with ServerClient.for_server(resource.spec.server, TOKEN) as client:
                await client.request("GET", "/api/namespaces/orders")

        asyncio.run(unchecked())
    assert Recorder.seen == [f"Bearer {TOKEN}"]


def test_a_loopback_server_the_admin_listed_is_still_reached(rebinding: list[str]) -> None:
    listed = TenantPolicy.model_validate({"endpoints": [{"hosts": ["127.0.0.1"], "uses": ["server"]}]})
    with local_http_server(Recorder) as url:
        asyncio.run(_admitted_call(Admission(listed), _resource(url.replace("127.0.0.1", NAME))))
    assert Recorder.seen == [f"Bearer {TOKEN}"]
