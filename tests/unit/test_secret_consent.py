"""Which Secrets the operator reads: consented or pinned ones only, each value decoded on its own.

The API server is faked at the HTTP layer (httpx.MockTransport) with the Secret bodies a real one returns;
the e2e tests (tests/e2e/test_tenant_safety.py) show the same on a real API server.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from payload_operator.adapters.kube import (
    CONSENT_LABEL,
    KubeClient,
    SecretKeyMissing,
    SecretNotConsented,
    SecretValueNotText,
    one_read_per_secret,
)


def _secret(name: str, data: dict[str, bytes], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "team-a", "labels": labels},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


SECRETS = {
    "labelled": _secret("labelled", {"token": b"tok-123456"}, {CONSENT_LABEL: "true"}),
    "unlabelled": _secret("unlabelled", {"password": b"db-pass-123"}, {}),
    "says-false": _secret("says-false", {"token": b"tok-123456"}, {CONSENT_LABEL: "false"}),
    "pinned": _secret("pinned", {"token": b"tok-pinned"}, {}),
    "mixed": _secret("mixed", {"token": b"tok-123456", "ca.der": b"\x30\x82\xff\xfe"}, {CONSENT_LABEL: "true"}),
}


def _client(reads: list[str] | None = None) -> KubeClient:
    def answer(request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        if reads is not None:
            reads.append(name)
        if name not in SECRETS:
            return httpx.Response(404, json={"reason": "NotFound"})
        return httpx.Response(200, content=json.dumps(SECRETS[name]), headers={"Content-Type": "application/json"})

    transport = httpx.MockTransport(answer)
    return KubeClient(httpx.AsyncClient(base_url="https://api", transport=transport), pinned_secrets={"team-a/pinned"})


@pytest.mark.parametrize("name", ["unlabelled", "says-false"])
async def test_a_secret_without_consent_is_refused_with_the_command_that_gives_it(name: str) -> None:
    with pytest.raises(SecretNotConsented) as refused:
        await _client().read_secret("team-a", name)
    assert refused.value.reason == "SecretConsentMissing"
    assert f"kubectl label secret -n team-a {name} {CONSENT_LABEL}=true" in str(refused.value)
    assert "db-pass" not in str(refused.value)


async def test_labelled_and_pinned_secrets_are_read() -> None:
    client = _client()
    assert await client.read_secret_key("team-a", "labelled", "token") == "tok-123456"
    assert await client.read_secret_key("team-a", "pinned", "token") == "tok-pinned"
    with pytest.raises(SecretNotConsented):  # pinned is per namespace
        await KubeClient(client._client, pinned_secrets={"team-b/pinned"}).read_secret("team-a", "pinned")


async def test_values_are_decoded_key_by_key() -> None:
    client = _client()
    values = await client.read_secret("team-a", "mixed")
    assert dict(values) == {"token": "tok-123456"}, "a binary key does not spoil the others"
    assert values.not_text == {"ca.der"}
    with pytest.raises(SecretValueNotText, match=r"key 'ca\.der' is not base64 of UTF-8 text"):
        await client.read_secret_key("team-a", "mixed", "ca.der")
    with pytest.raises(SecretKeyMissing):
        await client.read_secret_key("team-a", "mixed", "absent")


async def test_within_one_pass_a_secret_is_read_once_and_refusals_are_read_again() -> None:
    reads: list[str] = []
    client = _client(reads)
    with one_read_per_secret():
        first = await client.read_secret("team-a", "labelled")
        again = await client.read_secret("team-a", "labelled")
        for _ in range(2):
            with pytest.raises(SecretNotConsented):
                await client.read_secret("team-a", "unlabelled")
    await client.read_secret("team-a", "labelled")  # the next pass reads afresh (a rotated Secret)

    assert again is first
    assert reads == ["labelled", "unlabelled", "unlabelled", "labelled"]
