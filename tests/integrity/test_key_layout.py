"""Where the bytes really are: the operator finds every object the SDK and the server write, for every
driver, both server generations and a prefix (which the local driver ignores, as server and SDK do)."""

from __future__ import annotations

import sys
from typing import Any

import httpx
import pytest
from devkit.dw_emulator import AzureContainerObjectStore, EmulatedServer, GcsClientObjectStore, S3ClientObjectStore

from payload_operator.api.spec import IntegrityMode
from tests.integrity.conftest import PROVIDERS, THRESHOLD, Target, object_key, payload_values, write_with_sdk

PREFIX = "team/a"
SERVER_BLOBS = [f"server-side offload {n} ".encode().hex() * 40 for n in range(3)]


def server_policy(target: Target) -> dict[str, Any]:
    """The policy the operator sends this generation-independent emulator (disk named as it defaults)."""
    if target.provider == "local":
        config = {"uri": f"file://{target.bucket}", "prefix": PREFIX}
    else:
        config = {"bucket": target.bucket, "prefix": PREFIX, "disk": f"external-payload-{target.provider}"}
    return {"driver": target.provider, "enabled": True, "threshold_bytes": THRESHOLD, "config": config}


def backing_store(request: pytest.FixtureRequest, target: Target) -> Any:
    """The real provider API the emulated server writes through."""
    if target.provider == "s3":
        return S3ClientObjectStore(request.getfixturevalue("moto_s3").client())
    if target.provider == "gcs":
        return GcsClientObjectStore(request.getfixturevalue("gcs_emulator").client())
    return AzureContainerObjectStore(request.getfixturevalue("azurite").client())


def start_with_server_side_offload(server: EmulatedServer) -> None:
    """Start workflows whose inline input is over the threshold: the server writes it out itself."""
    with httpx.Client(base_url=server.url, headers=server.headers("operator"), timeout=30) as http:
        for n, blob in enumerate(SERVER_BLOBS):
            body = {"workflow_type": "t", "workflow_id": f"server-{n}", "input": {"codec": "avro", "blob": blob}}
            assert http.post("/api/workflows", json=body).status_code == 201


def stored_keys(target: Target) -> set[str]:
    store = target.store()
    try:
        return {info.key for info in store.list("")}
    finally:
        store.close()


@pytest.mark.parametrize("target", PROVIDERS, indirect=True)
@pytest.mark.parametrize("generation", ["A", "B"])
def test_every_object_the_sdk_and_the_server_write_is_found(
    target: Target, generation: str, request: pytest.FixtureRequest
) -> None:
    target.prefix = PREFIX
    sdk_keys = [object_key(target, e) for e in write_with_sdk(sys.executable, target, payload_values([3_000, 5_000]))]
    with EmulatedServer(generation, available_drivers=PROVIDERS[1:]) as server:  # type: ignore[arg-type]
        if target.provider != "local":
            server.set_object_store(target.provider, backing_store(request, target))
        server.set_policy("default", server_policy(target))
        start_with_server_side_offload(server)
    written = stored_keys(target)
    assert len(written) == len(sdk_keys) + len(SERVER_BLOBS)
    assert set(sdk_keys) < written
    payload_root = "avro/" if target.provider == "local" else f"{PREFIX}/avro/"
    assert all(key.startswith(payload_root) for key in written), written

    result = target.run(None, IntegrityMode.INVENTORY)

    assert (result["checked"], result["ok"], result["malformedKeys"]) == (len(written), len(written), 0)
