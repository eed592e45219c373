"""Integrity hashing benchmark: `payload-operator integrity` beside sha256sum, rclone and the SDK's own fetch.

Objects are written by the real SDK (durable-workflow 2.12.0, `store_external_payload` through its
`LocalFilesystemExternalStorage` / `S3ExternalStorage`), with sizes drawn log-uniformly up to
`--max-mib`. Then every tool hashes all of them, each as its own process, in one run:

    project     payload-operator integrity --mode inventory --json (checks each sha256 against its key)
                on S3 also twice more in this process: reads through botocore's get_object + iter_chunks
                instead of the signed-GET fast path, and listings with botocore's own timestamp parser
    sha256sum   find <root>/avro -type f | xargs sha256sum (coreutils; files only)
    rclone      rclone hashsum sha256 [--download] (Debian's rclone; on S3 also with the project's concurrency)
    SDK loop    for each reference: durable_workflow.external_storage.fetch_external_payload (verifies)
    limit       openssl speed -evp sha256 -multi <cores> (local set only): sha256 alone on every core, no I/O;
                its 16 KiB-block rate is the hashing limit the project is held against

Wall time and peak RSS (wait4's ru_maxrss, which covers the process and the children it waited for)
are measured per tool. A third data set of a few very large objects shows that the project's memory
does not grow with object size. Local files are read once before timing so every tool sees a warm
page cache.

    .venv/bin/python benchmarks/integrity_hash.py                   # 20,000 local objects, 2,000 on moto and RGW
    .venv/bin/python benchmarks/integrity_hash.py --write-docs      # also replace "## Integrity" in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # devkit.services starts moto the way the test-suite does
from benchmarks.docs_section import DOCS, replace_section  # noqa: E402

KIB = 2**10
MIB = 2**20
THRESHOLD = 2 * MIB  # the spec's default thresholdBytes: smaller payloads stay inline
SECTION = "## Integrity"
WRITERS = 4
PROJECT_CONCURRENCY = 16  # spec.integrity.concurrency's default
RGW_MEMSTORE_BYTES = 3 * 2**30
GNU_TIME = "/usr/bin/time"
SETS = ("local", "big", "s3-mixed", "s3-large", "rgw-mixed", "rgw-mixed-nodelay")
CORES = os.cpu_count() or 1
LIMIT = f"hashing limit: openssl speed -evp sha256 -multi {CORES}"
LIMIT_GOAL = 2 / 3  # the issue's goal: the project hashes local data at two thirds of the limit or more


@dataclass(frozen=True)
class Dataset:
    """Objects the SDK wrote: where, how many, how big, and its references (for the SDK loop)."""

    name: str
    provider: str
    location: dict[str, str]
    objects: int
    total_bytes: int
    references: Path


@dataclass(frozen=True)
class Measurement:
    tool: str
    dataset: Dataset
    seconds: float
    peak_rss_kib: int
    cpu_seconds: float
    """user + system CPU of the process and its children (the least of the runs: the least disturbed)"""
    note: str = ""


# --------------------------------------------------------------------------- data


def sizes(count: int, low: int, high: int, *, seed: int, log: bool = True) -> list[int]:
    """Sizes from `low` to `high` bytes, log-uniform (many small) or uniform, in whole base64 quads."""
    rng = random.Random(seed)
    if log:
        return [int(math.exp(rng.uniform(math.log(low), math.log(high)))) // 4 * 4 for _ in range(count)]
    return [rng.randint(low, high) // 4 * 4 for _ in range(count)]


def payload(size: int) -> bytes:
    """What the SDK stores: base64 text (of random bytes here), `size` bytes long."""
    return base64.b64encode(os.urandom(size // 4 * 3))


def write_dataset(
    name: str, driver: Any, provider: str, location: dict[str, str], *, lengths: list[int], workdir: Path
) -> Dataset:
    """Store every payload through the SDK driver (a few threads: generation is the slow part)."""
    from durable_workflow.external_storage import store_external_payload

    def store(size: int) -> dict[str, Any]:
        reference = store_external_payload(driver, payload(size), codec="avro")
        return {"uri": reference.uri, "sha256": reference.sha256, "size_bytes": reference.size_bytes}

    references = workdir / f"{name}.refs.jsonl"
    with ThreadPoolExecutor(WRITERS) as pool, references.open("w") as out:
        written = list(pool.map(store, lengths))
        out.writelines(json.dumps(reference) + "\n" for reference in written)
    total = sum(reference["size_bytes"] for reference in written)
    return Dataset(name, provider, location, len(written), total, references)


def local_dataset(name: str, lengths: list[int], workdir: Path) -> Dataset:
    from durable_workflow.external_storage import LocalFilesystemExternalStorage

    root = workdir / name
    root.mkdir()
    driver = LocalFilesystemExternalStorage(root)
    return write_dataset(name, driver, "local", {"root": str(root)}, lengths=lengths, workdir=workdir)


def s3_dataset(name: str, lengths: list[int], workdir: Path, endpoint: Any) -> Dataset:
    from durable_workflow.external_storage import S3ExternalStorage

    endpoint.client().create_bucket(Bucket=name)
    driver = S3ExternalStorage(endpoint.client(), bucket=name)
    location = {"url": endpoint.url, "bucket": name, "key": endpoint.access_key, "secret": endpoint.secret_key}
    return write_dataset(name, driver, "s3", location, lengths=lengths, workdir=workdir)


# --------------------------------------------------------------------------- tools


def manifest(dataset: Dataset, workdir: Path) -> Path:
    """The ExternalPayloadStorage the project reads (defaults for everything integrity-related)."""
    block: dict[str, Any]
    if dataset.provider == "local":
        block = {"path": dataset.location["root"]}
    else:
        block = {"bucket": dataset.location["bucket"], "endpoint": dataset.location["url"], "forcePathStyle": True}
    resource = {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "server": {"url": "http://127.0.0.1:9", "tokenSecretRef": {"name": "dw"}, "namespaces": ["default"]},
            "driver": dataset.provider,
            dataset.provider: block,
            "integrity": {},
        },
    }
    path = workdir / f"{dataset.name}.eps.json"
    path.write_text(json.dumps(resource))  # JSON is YAML
    return path


def s3_env(dataset: Dataset) -> dict[str, str | None]:
    """Credentials for the provider chains (the project, boto3) and an env-only rclone remote."""
    loc = dataset.location
    return {
        "AWS_ACCESS_KEY_ID": loc["key"],
        "AWS_SECRET_ACCESS_KEY": loc["secret"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "RCLONE_CONFIG_BENCH_TYPE": "s3",
        "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ENDPOINT": loc["url"],
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": loc["key"],
        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": loc["secret"],
        "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        "AWS_CA_BUNDLE": None,  # rclone refuses a custom CA bundle with its own transport; moto is plain HTTP
    }


BOTOCORE_READS = "project, botocore get_object reads"
BOTOCORE_TIMESTAMPS = "project, botocore timestamp parser"


def tools(dataset: Dataset, workdir: Path) -> list[tuple[str, list[str], dict[str, str | None]]]:
    """(name, argv, extra env) of every tool for this data set."""
    integrity = ["integrity", "-f", str(manifest(dataset, workdir)), "--mode", "inventory", "--json"]
    project = [sys.executable, "-m", "payload_operator", *integrity]
    sdk_loop = [sys.executable, __file__, "sdk-loop", str(dataset.references), json.dumps(dataset.location)]
    rclone = ["rclone", "--config", "/dev/null", "hashsum", "sha256"]
    if dataset.provider == "local":
        avro = f"{dataset.location['root']}/avro"
        return [
            ("project", project, {}),
            ("sha256sum", ["sh", "-c", f"find {avro} -type f -print0 | xargs -0 sha256sum"], {}),
            ("rclone hashsum sha256", [*rclone, avro], {}),
            ("SDK fetch_external_payload loop", sdk_loop, {}),
            *(
                [(LIMIT, ["openssl", "speed", "-evp", "sha256", "-multi", str(CORES)], {})]
                if dataset.name == "local"
                else []
            ),
        ]
    env = s3_env(dataset)
    remote = f"bench:{dataset.location['bucket']}/avro"
    # rclone's defaults (4 transfers) and rclone at the project's default concurrency (16)
    matched = ["--transfers", str(PROJECT_CONCURRENCY), "--checkers", str(PROJECT_CONCURRENCY)]
    return [
        ("project", project, env),
        (BOTOCORE_READS, [sys.executable, __file__, "project-variant", "botocore-reads", *integrity], env),
        (BOTOCORE_TIMESTAMPS, [sys.executable, __file__, "project-variant", "botocore-timestamps", *integrity], env),
        ("rclone hashsum sha256 --download", [*rclone, "--download", remote], env),
        (
            f"rclone ... --transfers {PROJECT_CONCURRENCY} --checkers {PROJECT_CONCURRENCY}",
            [*rclone, "--download", *matched, remote],
            env,
        ),
        ("SDK fetch_external_payload loop", sdk_loop, env),
    ]


def measure(argv: Sequence[str], env: dict[str, str | None]) -> tuple[float, int, float, str]:
    """Wall seconds, peak RSS (KiB), CPU seconds and stdout of one process and the children it waited for.

    GNU time reports the RSS: a child forked straight from this (large) interpreter would carry the
    interpreter's own high-water mark across exec.
    """
    with tempfile.NamedTemporaryFile("r") as rss, tempfile.TemporaryFile() as out:
        started = time.monotonic()
        done = subprocess.run(
            [GNU_TIME, "-f", "%M %U %S", "-o", rss.name, *argv],
            stdout=out,
            stderr=subprocess.PIPE,
            env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
            check=False,
        )
        elapsed = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
        out.seek(0)
        peak, user, system = rss.read().split()[-3:]
        return elapsed, int(peak), float(user) + float(system), out.read().decode()


def warm(dataset: Dataset) -> None:
    """Read every local file once, so no tool pays for the first read from disk."""
    if dataset.provider == "local":
        subprocess.run(
            ["sh", "-c", f"find {dataset.location['root']} -type f -exec cat {{}} + > /dev/null"], check=True
        )


def limit_seconds(stdout: str, dataset: Dataset) -> float:
    """The time openssl's rate for its largest block (the last column, in 1000s of bytes per second)
    would take to hash the set's bytes: so the limit row's throughput is openssl's own rate."""
    rates = re.findall(r"^sha256\s.*?([\d.]+)k\s*$", stdout, re.MULTILINE)
    if not rates:
        raise RuntimeError(f"no sha256 rate in openssl's output: {stdout[-500:]!r}")
    return dataset.total_bytes / (float(rates[-1]) * 1000)


def checked(tool: str, stdout: str, dataset: Dataset) -> str:
    """Each tool must really have hashed every object; the project must also have found them intact."""
    if tool == LIMIT:
        return "sha256 of 16 KiB blocks in memory, no I/O; its rate is the row's throughput"
    if tool.startswith("project"):
        report = json.loads(stdout)
        if (report["checked"], report["ok"]) != (dataset.objects, dataset.objects):
            raise RuntimeError(f"project checked {report['checked']}, ok {report['ok']} of {dataset.objects}")
        return "verified: every sha256 matches its key"
    if tool.startswith("SDK"):
        if int(stdout) != dataset.objects:
            raise RuntimeError(f"SDK loop fetched {stdout} of {dataset.objects}")
        return "verified: size and sha256 against each reference"
    lines = sum(1 for line in stdout.splitlines() if line.strip())
    if lines != dataset.objects:
        raise RuntimeError(f"{tool} printed {lines} hashes for {dataset.objects} objects")
    return "hashes printed, not compared"


def run_all(dataset: Dataset, workdir: Path, args: argparse.Namespace) -> list[Measurement]:
    """Every tool `repeat` times, round-robin (so a busy moment hurts all alike); the best time of each."""
    warm(dataset)
    best: dict[str, Measurement] = {}
    chosen = [tool for tool in tools(dataset, workdir) if not args.tools or tool[0].startswith(tuple(args.tools))]
    for _ in range(args.repeat):
        for tool, argv, env in chosen:
            seconds, rss, cpu, stdout = measure(argv, env)
            if tool == LIMIT:
                seconds = limit_seconds(stdout, dataset)
            log(f"{dataset.name:>8}  {tool:<34} {seconds:8.2f} s  {cpu:7.2f} s CPU  {rss / 1024:7.1f} MiB")
            current = Measurement(tool, dataset, seconds, rss, cpu, checked(tool, stdout, dataset))
            previous = best.get(tool)
            if previous is None or seconds < previous.seconds:
                best[tool] = current
            best[tool] = dataclasses.replace(
                best[tool],
                peak_rss_kib=max(rss, previous.peak_rss_kib if previous else 0),
                cpu_seconds=min(cpu, previous.cpu_seconds if previous else cpu),
            )
    return list(best.values())


def rgw_results(args: argparse.Namespace, workdir: Path, lengths: list[int]) -> list[Measurement]:
    """The mixed set on Ceph RGW, as installed (beast frontend, Nagle on) and with tcp_nodelay=1."""
    from devkit.services import ServiceUnavailable, start_rgw

    results: list[Measurement] = []
    for name, frontend in (("rgw-mixed", ""), ("rgw-mixed-nodelay", "tcp_nodelay=1")):
        if name not in args.sets:
            continue
        settings = {"RGW_MEMSTORE_BYTES": str(RGW_MEMSTORE_BYTES), "RGW_FRONTEND_OPTIONS": frontend}
        try:
            with start_rgw(settings=settings) as endpoint:
                results += run_all(s3_dataset(name, lengths, workdir, endpoint), workdir, args)
        except ServiceUnavailable as exc:
            log(f"{name}: skipped ({exc})")
    return results


# --------------------------------------------------------------------------- the SDK loop (a subprocess)


def sdk_loop(references: Path, location: dict[str, str]) -> None:
    """fetch_external_payload over every reference, sequentially, as replay code would; prints the count."""
    from durable_workflow.external_storage import (
        ExternalPayloadReference,
        LocalFilesystemExternalStorage,
        S3ExternalStorage,
        fetch_external_payload,
    )

    if "root" in location:
        driver: Any = LocalFilesystemExternalStorage(location["root"])
    else:
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", endpoint_url=location["url"], config=Config(s3={"addressing_style": "path"}))
        driver = S3ExternalStorage(client, bucket=location["bucket"])
    count = 0
    with references.open() as lines:
        for line in lines:
            raw = json.loads(line)
            reference = ExternalPayloadReference(raw["uri"], raw["sha256"], raw["size_bytes"], "avro")
            fetch_external_payload(driver, reference)
            count += 1
    print(count)


def project_variant(variant: str, argv: list[str]) -> int:
    """`payload-operator` with one piece swapped for botocore's own, to measure what that piece buys."""
    from payload_operator.adapters.storage import factory
    from payload_operator.adapters.storage.s3 import S3Store
    from payload_operator.cli.main import main as cli

    if variant == "botocore-reads":

        def read_chunks(self: S3Store, key: str, chunk_size: int = 1 << 20) -> Any:
            with self._errors("read", key):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                try:
                    yield from body.iter_chunks(chunk_size)
                finally:
                    body.close()

        S3Store.read_chunks = read_chunks  # type: ignore[method-assign]
    elif variant == "botocore-timestamps":
        import botocore.session

        factory._botocore_session = botocore.session.get_session
    else:
        raise SystemExit(f"unknown variant {variant}")
    return cli(argv)


# --------------------------------------------------------------------------- report


def rclone_best(results: list[Measurement], name: str) -> float | None:
    """The best wall time of any rclone row of data set `name` (its faster setting)."""
    return min((m.seconds for m in results if m.dataset.name == name and m.tool.startswith("rclone")), default=None)


def limit_of(results: list[Measurement], name: str) -> float | None:
    """The hashing limit's time for data set `name`'s bytes, where that set has a limit row."""
    return next((m.seconds for m in results if m.dataset.name == name and m.tool == LIMIT), None)


def times(reference: float | None, seconds: float) -> str:
    """How many times as fast as `reference` a row of `seconds` is (throughput ratio)."""
    return "" if reference is None else f"{reference / seconds:.2f}x"


def table(results: list[Measurement]) -> str:
    head = (
        "| data set | tool | objects | data | wall time | throughput | vs rclone's best | vs hashing limit"
        " | objects/s | CPU | peak RSS | check |"
    )
    rows = [head, "|" + "---|" * 12]
    for m in results:
        data, objects = m.dataset.total_bytes, m.dataset.objects
        # the limit row has a rate only: no objects, wall time or CPU of its own
        count, wall, per_second, cpu = (
            ("", "", "", "")
            if m.tool == LIMIT
            else (f"{objects:,}", f"{m.seconds:.2f} s", f"{objects / m.seconds:,.0f}", f"{m.cpu_seconds:.2f} s")
        )
        rows.append(
            f"| {m.dataset.name} | {m.tool} | {count} | {data / MIB:,.0f} MiB | {wall}"
            f" | {data / MIB / m.seconds:,.0f} MiB/s"
            f" | {times(rclone_best(results, m.dataset.name), m.seconds)}"
            f" | {times(limit_of(results, m.dataset.name), m.seconds)}"
            f" | {per_second} | {cpu} | {m.peak_rss_kib / 1024:.0f} MiB | {m.note} |"
        )
    return "\n".join(rows)


def environment() -> str:
    import importlib.metadata

    rclone = subprocess.run(["rclone", "version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    ceph = "Ceph not installed"
    if shutil.which("radosgw"):
        ceph = subprocess.run(["radosgw", "--version"], capture_output=True, text=True, check=False).stdout.strip()
        ceph = " ".join(ceph.split()[:3])
    coreutils = subprocess.run(["sha256sum", "--version"], capture_output=True, text=True, check=False).stdout
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, durable-workflow "
        f"{importlib.metadata.version('durable-workflow')}, {rclone}, {coreutils.splitlines()[0]}, "
        f"moto {importlib.metadata.version('moto')}, {ceph}"
    )


def startup(repeat: int) -> float:
    """Best wall time of `payload-operator integrity --help`: what every project row pays before work."""
    argv = [sys.executable, "-m", "payload_operator", "integrity", "--help"]
    return min(measure(argv, {})[0] for _ in range(repeat))


def comparison(results: list[Measurement], overhead: float) -> str:
    """Project against rclone per data set (best times), also without the project's start-up."""

    def ratio(rclone: float, project: float) -> str:
        return f"{rclone / project:.2f}x as fast as" if rclone >= project else f"{project / rclone:.2f}x slower than"

    lines = []
    for name in dict.fromkeys(m.dataset.name for m in results):
        rows = [m for m in results if m.dataset.name == name]
        own = next(m for m in rows if m.tool == "project")
        project = own.seconds
        for variant, what in (
            (BOTOCORE_READS, "get_object reads"),
            (BOTOCORE_TIMESTAMPS, "botocore's timestamp parser"),
        ):
            other = next((m for m in rows if m.tool == variant), None)
            if other is not None:
                lines.append(
                    f"- {name}: the project was {ratio(other.seconds, project)} itself with {what}"
                    f" ({ratio(max(other.seconds - overhead, 0.01), max(project - overhead, 0.01))} it without"
                    f" the start-up; CPU {own.cpu_seconds:.2f} s against {other.cpu_seconds:.2f} s)."
                )
        rclone = rclone_best(results, name)
        if rclone is not None:  # left out with --tools
            lines.append(
                f"- {name}: the project was {ratio(rclone, project)} rclone's best row"
                f" ({ratio(rclone, max(project - overhead, 0.01))} it without the project's start-up);"
                f" goal (at least as fast): {'met' if project <= rclone else 'not met'}."
            )
        limit = limit_of(results, name)
        if limit is not None:
            share = limit / project
            lines.append(
                f"- {name}: the project hashed at {share:.2f} of the hashing limit"
                f" ({limit / max(project - overhead, 0.01):.2f} without its start-up);"
                f" goal ({LIMIT_GOAL:.2f} or more): {'met' if share >= LIMIT_GOAL else 'not met'}."
            )
    return "\n".join(lines)


def kept_subsections() -> str:
    """The "###" parts of the current section: separate measurements this run does not redo."""
    current = DOCS.read_text() if DOCS.exists() else ""
    start = current.find(f"\n{SECTION}\n")
    if start < 0:
        return ""
    end = current.find("\n## ", start + 1)
    body = current[start : end if end >= 0 else len(current)]
    sub = body.find("\n### ")
    return "" if sub < 0 else body[sub:].strip("\n") + "\n"


def section(results: list[Measurement], args: argparse.Namespace, seconds: float, overhead: float) -> str:
    command = shlex.join(["benchmarks/integrity_hash.py", *sys.argv[1:]])
    load = ", ".join(f"{value:.1f}" for value in args.load)
    return f"""{SECTION}

`{command}` took {seconds / 60:.0f} min on {environment()}.
Load average at the start: {load} (the machine was shared, hence best of {args.repeat} round-robin runs).

Every object was written by the SDK (`store_external_payload`). "local" and the "-mixed" sets have sizes
log-uniform from 1 KiB to {args.max_mib} MiB (mostly small objects: what a lowered `thresholdBytes` offloads);
"s3-large" has sizes uniform from 2 MiB (the default threshold, below which payloads stay inline) to
{args.max_mib} MiB; "big" is {args.big.split("x")[0]} objects of {args.big_mib} MiB each. "s3-" sets live on moto,
"rgw-" sets on Ceph RGW (one memstore OSD): "rgw-mixed" as Ceph ships its beast frontend (Nagle's
algorithm on), "rgw-mixed-nodelay" with `tcp_nodelay=1`. Each tool ran as its own process over all
objects of a set; local files were read once beforehand so every tool found them in the page cache.
The project ran with the spec defaults (`concurrency: {PROJECT_CONCURRENCY}`: 1 MiB pieces from S3; local
files through a 128 KiB buffer per thread, at most two threads per CPU); rclone ran with its defaults and, on S3,
also with {PROJECT_CONCURRENCY} transfers and checkers (the comparison takes rclone's faster row).
sha256sum reads files only, so it has no S3 row; rclone needs `--download` on S3, which stores no SHA-256.

Sets run: {", ".join(dict.fromkeys(m.dataset.name for m in results))} ({args.objects:,} local, {args.s3_objects:,} mixed
and {args.s3_large_objects:,} large S3 objects, up to {args.max_mib} MiB; big: {args.big} MiB).
"vs rclone's best" is each row's throughput over that of the set's faster rclone row; "vs hashing limit" is
each row's throughput over `openssl speed -evp sha256 -multi {CORES}` (16 KiB blocks, every core, no I/O),
measured in the local set's round-robin, so under the same load.

{table(results)}

{comparison(results, overhead)}

Reading the table:
- The project and the SDK loop *verify* (sha256 against the key, or size and sha256 against the
  reference); sha256sum and rclone only print hashes, a comparison would come on top.
- "{BOTOCORE_READS}" swaps only the read path for `get_object` + `iter_chunks` (botocore's signing,
  pool and retries, no quick ACK); "{BOTOCORE_TIMESTAMPS}" swaps only the listing's timestamp parser.
  Both run in the same round-robin as the project, so their ratios above hold whatever the machine's load.
- Every project row includes {overhead:.2f} s of interpreter start-up and imports (best
  `payload-operator integrity --help`); rclone starts in a few milliseconds.
- The project's peak RSS is the same for {args.max_mib} MiB and {args.big_mib} MiB objects: it streams each object
  through the hash in 1 MiB pieces (128 KiB for local files) with at most `concurrency` reads in flight.
  The SDK loop holds a whole object in memory, so its RSS follows the largest object.
- moto is a Python process on the same 2 cores and closes the connection after every answer: the
  moto rows are bound by moto's own CPU per request (about 1.8 ms, whichever client asks), so every
  client lands near the same time there.
- RGW is a C++ server, so the client's CPU per request counts. The project signs its GETs itself
  (SigV4 in the header, the day's key cached: about 15 µs against botocore's 90 µs presign) and reads
  over a plain connection pool; per byte its sha256 (OpenSSL, SHA-NI) costs about half of rclone's.
- Ceph's beast frontend writes a response's headers and body separately with Nagle's algorithm on; a
  Linux client delays its ACK of the headers on a kept-alive connection, so every small object waits
  about 40 ms. The project acknowledges each response at once (TCP_QUICKACK), rclone waits: that is
  the "rgw-mixed" gap. With `tcp_nodelay=1` ("rgw-mixed-nodelay") no client waits.
- Local objects are read into one reused buffer per thread, and small objects go to the pool a few
  at a time (up to 32 objects or 4 MiB a task), so the event loop's per-task cost is paid once per batch.

{kept_subsections()}"""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=20_000, help="local objects")
    parser.add_argument("--s3-objects", type=int, default=2_000, help="mixed-size objects on moto and on RGW")
    parser.add_argument("--s3-large-objects", type=int, default=400, help="objects of 2 MiB to --max-mib on moto")
    parser.add_argument("--max-mib", type=int, default=4, help="largest object of the mixed sets")
    parser.add_argument("--big", default="4x512", help="COUNTxMIB: the large-object set (RSS check)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best time is reported")
    parser.add_argument("--workdir", type=Path, help="where to write the local sets (default: a temp dir)")
    parser.add_argument("--write-docs", action="store_true", help=f"replace '{SECTION}' in {DOCS}")
    parser.add_argument("--sets", type=lambda v: v.split(","), default=list(SETS), help="data sets, comma-separated")
    parser.add_argument("--tools", type=lambda v: v.split(","), default=[], help="only tools whose names start so")
    args = parser.parse_args()
    big_count, args.big_mib = (int(part) for part in args.big.split("x"))
    args.load = os.getloadavg()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="integrity-bench-", dir=args.workdir))
    results: list[Measurement] = []
    try:
        max_bytes = args.max_mib * MIB
        local: dict[str, Callable[[], list[int]]] = {
            "local": lambda: sizes(args.objects, KIB, max_bytes, seed=1),
            "big": lambda: [args.big_mib * MIB] * big_count,
        }
        for name, lengths in local.items():
            if name in args.sets:
                results += run_all(local_dataset(name, lengths(), workdir), workdir, args)
        from devkit.services import start_moto

        moto: dict[str, Callable[[], list[int]]] = {
            "s3-mixed": lambda: sizes(args.s3_objects, KIB, max_bytes, seed=2),
            "s3-large": lambda: sizes(args.s3_large_objects, THRESHOLD, max_bytes, seed=3, log=False),
        }
        with start_moto() as endpoint:
            for name, lengths in moto.items():
                if name in args.sets:
                    results += run_all(s3_dataset(name, lengths(), workdir, endpoint), workdir, args)
        results += rgw_results(args, workdir, sizes(args.s3_objects, KIB, max_bytes, seed=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = section(results, args, time.monotonic() - started, startup(args.repeat))
    print(text)
    if args.write_docs:
        replace_section(SECTION, text)


if __name__ == "__main__":
    if sys.argv[1:2] == ["sdk-loop"]:
        sdk_loop(Path(sys.argv[2]), json.loads(sys.argv[3]))
    elif sys.argv[1:2] == ["project-variant"]:
        sys.exit(project_variant(sys.argv[2], sys.argv[3:]))
    else:
        main()
