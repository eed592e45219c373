"""``python -m devkit.dw_emulator --port 8080 --generation A --namespace orders …`` (runs until killed)."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from .config import Tokens
from .server import EmulatedServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devkit.dw_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--generation", choices=["A", "B"], default="A")
    parser.add_argument("--admin-token", default="admin-token")
    parser.add_argument("--operator-token", default="operator-token")
    parser.add_argument("--worker-token", default="worker-token")
    parser.add_argument("--namespace", action="append", default=[], help="repeatable; 'default' always exists")
    parser.add_argument("--local-root", type=Path, default=None)
    parser.add_argument(
        "--profile",
        choices=["captured", "references"],
        default="captured",
        help="Gen A: the captured real server (default) or a later one that presents references",
    )
    parser.add_argument(
        "--available-driver",
        action="append",
        default=None,
        choices=["s3", "gcs", "azure", "custom"],
        help="provider drivers available in this runtime (default: s3)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    namespaces = ["default", *[n for n in args.namespace if n.lower() != "default"]]
    server = EmulatedServer(
        generation=args.generation,
        tokens=Tokens(admin=args.admin_token, operator=args.operator_token, worker=args.worker_token),
        namespaces=namespaces,
        profile=args.profile,
        local_root=args.local_root,
        host=args.host,
        port=args.port,
        available_drivers=args.available_driver if args.available_driver is not None else ["s3"],
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print(
        f"dw-emulator generation {args.generation} listening on {server.url} "
        f"(namespaces: {', '.join(namespaces)}; local root: {server.local_root})",
        flush=True,
    )
    try:
        stop.wait()
    finally:
        server.close()


if __name__ == "__main__":
    main()
