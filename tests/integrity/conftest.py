"""Integrity tests: real SDK writers, real storage servers, the server emulator, the real run kind.

    target        Target      a fresh bucket (local dir, moto S3, GCS emulator, Azurite) with its spec parts
    sdk_python    str         the interpreter of one SDK version (2.12.0: .venv, 0.4.53: .venv-sdk04)
    emulator      EmulatedServer  a Gen A server emulator showing references in its histories

Objects are written by the SDK's own drivers in a subprocess (``sdk_writer.py``), damaged through the
operator's ObjectStore (the same calls on every provider) and verified by `IntegrityRun.execute`.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from devkit.dw_emulator import EmulatedServer
from devkit.naming import unique_name
from devkit.procs import REPO_ROOT, in_ci

from payload_operator.adapters.storage.base import ObjectStore
from payload_operator.adapters.storage.factory import open_store
from payload_operator.api.resource import Resource, resource_from_body
from payload_operator.api.results import IntegrityResult
from payload_operator.api.spec import IntegrityMode
from payload_operator.core.run_context import RunContext, Shard
from payload_operator.core.secrets import SecretValues
from payload_operator.tasks.integrity.run import IntegrityRun

WRITER = Path(__file__).with_name("sdk_writer.py")
SDK_PYTHONS = {"2.12.0": Path(sys.executable), "0.4.53": REPO_ROOT / ".venv-sdk04" / "bin" / "python"}
THRESHOLD = 1024
PROVIDERS = ["local", "s3", "gcs", "azure"]


@dataclass
class Target:
    """One fresh bucket: the spec block the operator gets, the credentials, and what the SDK writer needs."""

    provider: str
    bucket: str
    block: dict[str, Any]
    sdk_target: dict[str, Any]
    credentials: SecretValues | None = None
    prefix: str = ""
    server_schemes: dict[str, str] = field(default_factory=dict)
    """SDK URI scheme -> the server's spelling of it, where they differ (contract §3)."""

    def resource(self, server: EmulatedServer | None, **integrity: Any) -> Resource:
        url = server.url if server else "http://127.0.0.1:9"
        body = {
            "metadata": {"name": "payloads", "namespace": "apps"},
            "spec": {
                "server": {"url": url, "tokenSecretRef": {"name": "dw"}, "namespaces": ["default"]},
                "driver": self.provider,
                self.provider: self.block,
                "prefix": self.prefix,
                "thresholdBytes": THRESHOLD,
                "integrity": {"concurrency": 4, **integrity},
            },
        }
        return resource_from_body(body)

    def store(self) -> ObjectStore:
        return open_store(self.resource(None).spec, self.credentials)

    def run(
        self,
        server: EmulatedServer | None,
        mode: IntegrityMode,
        shard: Shard | None = None,
        **integrity: Any,
    ) -> dict[str, Any]:
        """One integrity run of `mode`, as the framework would start it; its result as status spells it."""
        token = server.token("admin") if server else None
        context = RunContext(self.resource(server, **integrity), token, self.credentials, shard or Shard())
        return wire(asyncio.run(IntegrityRun(mode=mode).execute(context)))


@pytest.fixture(params=PROVIDERS)
def target(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    name = unique_name("integrity")
    prefix = "namespaces/default"
    if request.param == "local":
        root = tmp_path / "payloads"
        root.mkdir()
        return Target("local", str(root), {"path": str(root)}, {"root": str(root)})
    if request.param == "s3":
        s3 = request.getfixturevalue("moto_s3")
        s3.client().create_bucket(Bucket=name)
        block = {"bucket": name, "region": s3.region, "endpoint": s3.url, "forcePathStyle": True}
        credentials = SecretValues("test s3", {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key})
        sdk = {"url": s3.url, "access_key": s3.access_key, "secret_key": s3.secret_key, "region": s3.region}
        return Target("s3", name, block, sdk | {"bucket": name}, credentials, prefix)
    if request.param == "gcs":
        gcs = request.getfixturevalue("gcs_emulator")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)  # the factory's anonymous emulator path
        gcs.client().create_bucket(name)
        block = {"bucket": name, "endpoint": gcs.url}
        return Target("gcs", name, block, {"url": gcs.url, "bucket": name}, None, prefix, {"gs": "gcs"})
    azure = request.getfixturevalue("azurite")
    azure.client().create_container(name)
    block = {"container": name, "accountUrl": azure.url}
    credentials = SecretValues("test azure", {"connectionString": azure.connection_string})
    sdk = {"connection_string": azure.connection_string, "container": name}
    return Target("azure", name, block, sdk, credentials, prefix, {"azure-blob": "azure"})


def sdk_interpreter(version: str) -> str:
    """The interpreter that carries `version`; the 0.4 venv comes from scripts/bootstrap.sh."""
    python = SDK_PYTHONS[version]
    if not python.exists():
        message = f"{python} missing: run scripts/bootstrap.sh (it builds .venv-sdk04 with durable-workflow 0.4.53)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return str(python)


@pytest.fixture(params=list(SDK_PYTHONS))
def sdk_python(request: pytest.FixtureRequest) -> str:
    return sdk_interpreter(request.param)


@pytest.fixture
def emulator() -> Iterator[EmulatedServer]:
    with EmulatedServer("A", profile="references") as server:
        yield server


def payload_values(sizes: Sequence[int], seed: int = 0) -> list[dict[str, Any]]:
    """JSON values whose encoded payloads have roughly these sizes (distinct, deterministic)."""
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return [{"n": n, "text": "".join(rng.choices(alphabet, k=size))} for n, size in enumerate(sizes)]


def write_with_sdk(python: str, target: Target, values: Sequence[Any]) -> list[dict[str, Any]]:
    """Offload `values` through the SDK's own driver; returns its envelopes (Gen A references)."""
    job = {
        "provider": target.provider,
        "target": target.sdk_target,
        "prefix": target.prefix,
        "threshold": THRESHOLD,
        "values": list(values),
    }
    done = subprocess.run(
        [python, str(WRITER)], input=json.dumps(job), capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    envelopes: list[dict[str, Any]] = json.loads(done.stdout)["envelopes"]
    assert all("external_storage" in envelope for envelope in envelopes), "every value must be offloaded"
    return envelopes


def object_key(target: Target, envelope: dict[str, Any]) -> str:
    """Where the SDK put an envelope's bytes, relative to the bucket (or local root)."""
    parts = urlsplit(envelope["external_storage"]["uri"])
    path = unquote(parts.path)
    if target.provider == "local":
        return path[len(target.bucket) + 1 :]
    return path.lstrip("/")


def server_spelling(target: Target, envelope: dict[str, Any]) -> dict[str, Any]:
    """The same reference with the URI scheme the server writes for this driver (gcs://, azure://)."""
    reference = dict(envelope["external_storage"])
    scheme, rest = reference["uri"].split("://", 1)
    reference["uri"] = f"{target.server_schemes.get(scheme, scheme)}://{rest}"
    return {**envelope, "external_storage": reference}


def seed_histories(server: EmulatedServer, envelopes: Sequence[dict[str, Any]]) -> None:
    """One workflow per envelope (input), plus one more whose output repeats the first (a shared object)."""
    for n, envelope in enumerate(envelopes):
        server.add_workflow("default", f"wf-{n}", input=envelope)
    server.add_workflow("default", "wf-shared", input=envelopes[0], output=envelopes[0])


def wire(result: IntegrityResult) -> dict[str, Any]:
    """A result as status, the ConfigMap and --json spell it."""
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def typed(result: dict[str, Any]) -> IntegrityResult:
    """A result read back as the operator reads it."""
    return IntegrityResult.model_validate(result)


def read_all(store: ObjectStore, key: str) -> bytes:
    return b"".join(store.read_chunks(key))


def flip_byte(store: ObjectStore, key: str) -> None:
    data = bytearray(read_all(store, key))
    data[len(data) // 2] ^= 0x01
    store.put(key, bytes(data))


def truncate(store: ObjectStore, key: str) -> None:
    store.put(key, read_all(store, key)[:-7])


def delete(store: ObjectStore, key: str) -> None:
    assert not store.delete_batch([key]).errors


def problems(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The bad keys a result reports, as (problem, key), in the report's order."""
    return [(entry["problem"], entry["key"]) for entry in result["bad"]]
