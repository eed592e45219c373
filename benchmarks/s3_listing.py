"""Listing benchmark: what the storage factory's timestamp parser buys when N objects are listed.

The orphan audit and integrity's inventory consume `S3Store.list`, which parses one `LastModified` per
object. This lists `--objects` payload keys on moto or Ceph RGW through stores the factory opened,
once with the factory's parser and once with botocore's own (dateutil), round-robin in one process,
and reports wall time and this process's CPU for each (the server's CPU is not counted).

    .venv/bin/python benchmarks/s3_listing.py --objects 10000 --server rgw
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # devkit.services starts the servers the way the test-suite does

BUCKET = "listing-bench"
PREFIX = "payloads"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    import botocore.session
    from devkit.services import start_moto, start_rgw

    from payload_operator.adapters.storage import factory
    from payload_operator.api.spec import ExternalPayloadStorageSpec
    from payload_operator.core.secrets import SecretValues

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--server", choices=("moto", "rgw"), default="rgw")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    parsers: dict[str, Callable[[], Any]] = {
        "factory's parser": factory._botocore_session,
        "botocore's parser": botocore.session.get_session,
    }
    with start_rgw() if args.server == "rgw" else start_moto() as endpoint:
        client = endpoint.client()
        client.create_bucket(Bucket=BUCKET)
        keys = [f"{PREFIX}/avro/{n % 256:02x}/{n:064x}" for n in range(args.objects)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda key: client.put_object(Bucket=BUCKET, Key=key, Body=b"x"), keys))
        block = {"bucket": BUCKET, "endpoint": endpoint.url, "forcePathStyle": True, "region": endpoint.region}
        spec = ExternalPayloadStorageSpec.model_validate(
            {
                "server": {"url": "http://127.0.0.1:9", "tokenSecretRef": {"name": "t"}, "namespaces": ["d"]},
                "driver": "s3",
                "s3": block,
                "prefix": PREFIX,
            }
        )
        credentials = SecretValues(
            "bench", {"accessKeyId": endpoint.access_key, "secretAccessKey": endpoint.secret_key}
        )
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for name, session in parsers.items():
                factory._botocore_session = session
                store = factory.open_store(spec, credentials)
                cpu, wall = cpu_seconds(), time.perf_counter()
                listed = sum(1 for _ in store.list(f"{PREFIX}/avro/"))
                cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
                store.close()
                if listed != args.objects:
                    raise RuntimeError(f"listed {listed} of {args.objects}")
                print(f"{name:<18} wall {wall:6.2f} s  CPU {cpu:6.2f} s", file=sys.stderr, flush=True)
                previous = best.get(name, (wall, cpu))
                best[name] = (min(wall, previous[0]), min(cpu, previous[1]))
    for name, (wall, cpu) in best.items():
        print(f"{args.server}, {args.objects:,} objects, {name}: best wall {wall:.2f} s, best CPU {cpu:.2f} s")


if __name__ == "__main__":
    main()
