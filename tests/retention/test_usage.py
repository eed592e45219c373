"""Storage usage by class: a retention run's figures equal a hand count of a store the test builds.

Local driver: the emulator writes referenced, orphaned (old) and young payloads, the test adds temporary
uploads (under nested and separate temporary prefixes) and quarantine copies with their notes. Moto S3:
the real durable-workflow SDK writes the payloads, histories reference some of them. Every object's size
is known, so each class must match to the byte, sharded or not.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from devkit.dw_emulator import EmulatedServer
from devkit.naming import unique_name
from devkit.services import S3Endpoint

from payload_operator.adapters.storage.factory import open_store
from payload_operator.api.resource import resource_from_body
from payload_operator.core.run_context import RunContext, Shard
from payload_operator.core.secrets import SecretValues
from payload_operator.scheduler.results import conclude, succeeded
from payload_operator.tasks.retention.run import RetentionRun
from tests.integrity.conftest import Target, payload_values, sdk_interpreter, seed_histories, write_with_sdk
from tests.retention.conftest import ServerFactory, age_file, manifest, resource_of, run_retention

TMP_PREFIXES = ["tmp/", "tmp/uploads/", "staging/"]  # tmp/uploads/ lies inside tmp/: listed once


def figure(paths: list[Path]) -> dict[str, int]:
    return {"objects": len(paths), "bytes": sum(path.stat().st_size for path in paths)}


def put(root: Path, key: str, size: int) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"t" * size)
    return path


async def test_usage_by_class_matches_a_hand_count_on_the_local_driver(emulator: ServerFactory) -> None:
    payloads = emulator(profile="references")
    for n in range(4):
        payloads.workflow("orders", f"order-{n}")
    payloads.workflow("billing", "invoice-0", status="running")
    for _ in range(3):
        payloads.orphan()
    payloads.orphan(age=60)  # young: inside the one-hour grace period
    root = payloads.root
    temporary = [put(root, f"tmp/chunk-{n}", 100 + n) for n in range(3)]
    temporary += [put(root, "tmp/uploads/part-1", 777), put(root, "staging/upload-9", 4096)]
    for path in temporary:
        age_file(path, 3600)  # temporary objects are counted whatever their age
    sha = hashlib.sha256(b"damaged").hexdigest()
    quarantined = [
        put(root, f"quarantine/avro/{sha[:2]}/{sha}", 2000),
        put(root, f"quarantine/avro/{sha[:2]}/{sha}.json", 300),
    ]
    body = manifest(payloads.server, root, serverPasses=False)
    body["spec"]["lifecycle"] = {"tmpPrefixes": TMP_PREFIXES}
    expected = {
        "referenced": figure(payloads.referenced),
        "young": figure(payloads.young),
        "candidate": figure(payloads.orphans),
        "foreign": {"objects": 0, "bytes": 0},
        "temporary": figure(temporary),
        "quarantined": figure(quarantined),
    }

    whole, outcome, _ = await run_retention(resource_from_body(body))
    split, _, _ = await run_retention(resource_from_body(body), shards=3)

    assert outcome == "Succeeded"
    assert whole["usage"] == expected
    assert split["usage"] == expected, "shards add up; temporary and quarantined objects are counted once"
    assert whole["orphans"]["candidateBytes"] == expected["candidate"]["bytes"]


async def test_a_skipped_audit_reports_only_what_was_listed(emulator: ServerFactory) -> None:
    payloads = emulator(profile="references", inline_payloads=True)  # references not observable: avro/ not judged
    payloads.workflow("orders", "order-0")
    temporary = [put(payloads.root, "tmp/chunk-0", 512)]

    result, outcome, _ = await run_retention(resource_of(payloads.server, payloads.root, serverPasses=False))

    assert outcome == "PartiallyFailed"
    assert result["usage"] == {"temporary": figure(temporary), "quarantined": {"objects": 0, "bytes": 0}}


def _moto_target(moto_s3: S3Endpoint) -> Target:
    name = unique_name("usage")
    moto_s3.client().create_bucket(Bucket=name)
    block = {"bucket": name, "region": moto_s3.region, "endpoint": moto_s3.url, "forcePathStyle": True}
    credentials = SecretValues("test s3", {"accessKeyId": moto_s3.access_key, "secretAccessKey": moto_s3.secret_key})
    sdk = {"url": moto_s3.url, "access_key": moto_s3.access_key, "secret_key": moto_s3.secret_key}
    return Target(
        "s3", name, block, sdk | {"region": moto_s3.region, "bucket": name}, credentials, "namespaces/default"
    )


def _retention_body(target: Target, server_url: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "payloads", "namespace": "apps"},
        "spec": {
            "server": {"url": server_url, "tokenSecretRef": {"name": "dw"}, "namespaces": ["default"]},
            "driver": "s3",
            "s3": target.block,
            "prefix": target.prefix,
            "thresholdBytes": 1024,
            "retention": {"serverPasses": False, "orphanAudit": {"minAge": "1h"}},
        },
    }


def test_usage_by_class_matches_a_hand_count_on_s3_written_by_the_sdk(moto_s3: S3Endpoint) -> None:
    target = _moto_target(moto_s3)
    envelopes = write_with_sdk(sdk_interpreter("2.12.0"), target, payload_values([1500 + 300 * n for n in range(6)]))
    store = open_store(resource_from_body(_retention_body(target, "http://127.0.0.1:9")).spec, target.credentials)
    sizes = [int(envelope["external_storage"]["size_bytes"]) for envelope in envelopes]
    tmp = {f"{target.prefix}/tmp/upload-{n}": 1000 + n for n in range(4)}
    sha = hashlib.sha256(b"damaged").hexdigest()
    quarantine = {f"{target.prefix}/quarantine/avro/{sha[:2]}/{sha}": 2500, f"{target.prefix}/quarantine/x.json": 200}
    for key, size in (tmp | quarantine).items():
        store.put(key, b"q" * size)
    store.close()

    with EmulatedServer("A", profile="references") as server:
        seed_histories(server, envelopes[:4])  # four referenced; the SDK's other two are unreferenced (young)
        resource = resource_from_body(_retention_body(target, server.url))
        kind = RetentionRun()
        context = RunContext(resource, server.token("admin"), target.credentials, Shard())
        result = asyncio.run(kind.execute(context))
        conclusion = conclude(kind, {0: succeeded(Shard(), result)}, 1)

    assert conclusion.result is not None
    usage = conclusion.result.model_dump(by_alias=True, mode="json", exclude_none=True)["usage"]
    assert usage == {
        "referenced": {"objects": 4, "bytes": sum(sizes[:4])},
        "young": {"objects": 2, "bytes": sum(sizes[4:])},
        "candidate": {"objects": 0, "bytes": 0},
        "foreign": {"objects": 0, "bytes": 0},
        "temporary": {"objects": len(tmp), "bytes": sum(tmp.values())},
        "quarantined": {"objects": len(quarantine), "bytes": sum(quarantine.values())},
    }
