"""Fault switches for drills."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from devkit.dw_emulator import EmulatedServer

from .helpers import Api


def test_stop_start_keeps_port_and_state(gen_a: EmulatedServer, api_a: Api) -> None:
    url = gen_a.url
    api_a.put_policy("default", {"driver": "local"})
    gen_a.stop()
    assert not gen_a.running
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/api/health", timeout=2)
    gen_a.start()
    assert gen_a.url == url
    assert httpx.get(f"{url}/api/health", timeout=2).status_code == 200
    assert gen_a.policy("default") == {"driver": "local", "enabled": True}


def test_down_switch(gen_a: EmulatedServer) -> None:
    client = httpx.Client(base_url=gen_a.url, timeout=2)  # a pooled keep-alive connection
    try:
        assert client.get("/api/health").status_code == 200
        gen_a.faults.down = True
        with pytest.raises(httpx.TransportError):
            client.get("/api/health")
        gen_a.faults.down = False
        assert client.get("/api/health").status_code == 200
        gen_a.faults.down = True
        gen_a.faults.clear()  # ends the outage too
        assert client.get("/api/health").status_code == 200
    finally:
        client.close()


def test_status_override_with_prefix_count_and_retry_after(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.faults.set(status=429, path_prefix="/api/namespaces", count=2, retry_after=7)
    first = api_a.get("/api/namespaces", role="operator")
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "7"
    assert api_a.get("/api/cluster/info").status_code == 200  # other paths untouched
    assert api_a.get("/api/namespaces", role="operator").status_code == 429
    assert api_a.get("/api/namespaces", role="operator").status_code == 200  # count exhausted
    assert gen_a.count(path="/api/namespaces", status=429) == 2
    assert gen_a.requests.last(status=429).fault == "status"  # type: ignore[union-attr]


def test_status_override_until_cleared(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.faults.set(status=503, method="PUT")
    assert api_a.put_policy("default", {"driver": "local"}).status_code == 503
    assert api_a.get("/api/namespaces", role="operator").status_code == 200
    assert api_a.put_policy("default", {"driver": "local"}).status_code == 503
    gen_a.faults.clear()
    assert api_a.put_policy("default", {"driver": "local"}).status_code == 200


def test_custom_fault_body(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.faults.set(status=500, body={"message": "boom", "reason": "x"}, count=1)
    assert api_a.get("/api/namespaces", role="operator").json() == {"message": "boom", "reason": "x"}


def test_unauthorized_switch(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.faults.unauthorized = True
    assert api_a.get("/api/namespaces", role="operator").status_code == 401
    assert api_a.get("/api/health", role=None).status_code == 401
    gen_a.faults.unauthorized = False
    assert api_a.get("/api/namespaces", role="operator").status_code == 200


def test_latency(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.faults.latency = 0.3
    started = time.monotonic()
    assert api_a.get("/api/health").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_malformed_json(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.faults.malformed_json(path_prefix="/api/namespaces", count=1)
    response = api_a.get("/api/namespaces", role="operator")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert api_a.get("/api/namespaces", role="operator").json()["namespaces"]


def test_wrong_content_type(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.faults.wrong_content_type(count=1)
    response = api_a.get("/api/namespaces", role="operator")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


def test_truncated_body(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.faults.truncated_body(path_prefix="/api/cluster/info", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api_a.get("/api/cluster/info")
    assert api_a.get("/api/cluster/info").status_code == 200


def test_connection_reset(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.faults.reset(count=1)
    with pytest.raises(httpx.TransportError):
        api_a.get("/api/namespaces", role="operator")
    assert api_a.get("/api/namespaces", role="operator").status_code == 200
