"""Shared helpers for the emulator tests: a small HTTP client and sample loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from devkit.dw_emulator import EmulatedServer, Tokens

TOKENS = Tokens(admin="adm", operator="op", worker="wk")
SAMPLES_DIR = Path(__file__).with_name("real_server_samples")


def load_sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


def sample_names() -> list[str]:
    return sorted(p.stem for p in SAMPLES_DIR.glob("*.json"))


class Api:
    """httpx client speaking like a well-behaved control-plane client, overridable per call."""

    def __init__(self, srv: EmulatedServer) -> None:
        self.srv = srv
        self.http = httpx.Client(base_url=srv.url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def headers(
        self, role: str | None = "admin", namespace: str | None = "default", version: str | None = "2"
    ) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if role is not None:
            headers["Authorization"] = f"Bearer {self.srv.token(role)}"
        if namespace is not None:
            headers["X-Namespace"] = namespace
        if version is not None:
            headers["X-Durable-Workflow-Control-Plane-Version"] = version
        return headers

    def call(
        self,
        method: str,
        path: str,
        *,
        role: str | None = "admin",
        namespace: str | None = "default",
        version: str | None = "2",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        merged = {**self.headers(role, namespace, version), **(headers or {})}
        return self.http.request(method, path, headers=merged, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("PUT", path, **kwargs)

    def put_policy(self, namespace: str, body: dict[str, Any]) -> httpx.Response:
        return self.put(f"/api/namespaces/{namespace}/external-storage", namespace=namespace, json=body)
