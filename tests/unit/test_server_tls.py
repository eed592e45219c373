"""The workflow server's TLS contexts are built once and shared: a resync no longer loads a CA store (about
30 ms of CPU each time), and a refused bundle is refused every time without being echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from devkit.arm_emulator.tls import write_self_signed

from payload_operator.adapters.server import InvalidCaBundle, ServerClient, tls_verify
from payload_operator.api.spec import ServerSpec

SERVER = ServerSpec.model_validate(
    {"url": "https://dw.example:8443", "namespaces": ["orders"], "tokenSecretRef": {"name": "t", "key": "token"}}
)


async def test_clients_without_a_bundle_share_the_system_trust() -> None:
    first = ServerClient.for_server(SERVER, "token-one")
    second = ServerClient.for_server(SERVER, "token-two")
    try:
        assert tls_verify(None) is tls_verify(None)
        assert first._client._transport._ssl is second._client._transport._ssl  # type: ignore[attr-defined]
    finally:
        await first.aclose()
        await second.aclose()


def test_one_bundle_is_loaded_once(tmp_path: Path) -> None:
    cert, _ = write_self_signed(tmp_path)
    bundle = cert.read_text()

    assert tls_verify(bundle) is tls_verify(bundle)
    assert tls_verify(bundle) is not tls_verify(None)


def test_a_refused_bundle_is_refused_every_time_without_echo() -> None:
    garbage = "-----BEGIN CERTIFICATE-----\nTk9ULUEtQ0VSVC1MRUFL\n-----END CERTIFICATE-----\n"
    for _ in range(2):
        with pytest.raises(InvalidCaBundle) as raised:
            tls_verify(garbage)
        assert "Tk9ULUEtQ0VSVC1MRUFL" not in str(raised.value)
