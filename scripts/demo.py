"""The embedded local default: control plane, emulated server, local storage, the operator, one resource.

    make demo                 # runs until Ctrl-C; prints how to point kubectl at it
    make demo ARGS=--once     # stops after printing `kubectl get eps` (used by the tests)

Everything runs on this machine: kube-apiserver 1.20 + etcd (built by scripts/build-k8s.sh), the Durable
Workflow server emulator from tests/ (the real server cannot run here), a payload directory under
.work/demo, and `payload-operator run` as a subprocess, exactly as it runs in a cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.dw_emulator import EmulatedServer, Tokens  # noqa: E402
from tests.support.cluster import start_cluster  # noqa: E402
from tests.support.procs import free_ports  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

NAMESPACE = "payloads-demo"
TOKEN = "demo-admin-token"


def manifests(server: EmulatedServer) -> list[dict[str, object]]:
    """The demo namespace, the admin-token Secret and the example resource pointed at the emulator."""
    example = yaml.safe_load((REPO / "examples" / "local" / "externalpayloadstorage.yaml").read_text())
    example["metadata"]["namespace"] = NAMESPACE
    example["spec"]["server"]["url"] = server.url
    example["spec"]["local"]["path"] = str(server.local_root)
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "dw-admin", "namespace": NAMESPACE},
            "stringData": {"token": TOKEN},
        },
        example,
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="exit after the resource is Ready")
    args = parser.parse_args()
    workdir = REPO / ".work" / "demo"
    (workdir / "payloads").mkdir(parents=True, exist_ok=True)
    print("starting the local control plane (kube-apiserver 1.20 + etcd)...", flush=True)
    with (
        start_cluster() as cluster,
        EmulatedServer(
            generation="A",
            tokens=Tokens(admin=TOKEN, operator="demo-operator", worker="demo-worker"),
            namespaces=["orders", "billing"],
            discovery=True,
            local_root=workdir / "payloads",
        ) as server,
    ):
        print(f"Durable Workflow server emulator at {server.url}", flush=True)
        cluster.kubectl("apply", "--validate=false", "-f", str(REPO / "crds" / "externalpayloadstorages.yaml"))
        cluster.kubectl(
            "wait",
            "--for=condition=established",
            "--timeout=60s",
            "crd/externalpayloadstorages.payloads.durable-workflow.io",
        )
        env = cluster.env() | {
            "PAYLOAD_OPERATOR_TIMER_INTERVAL": "5",
            "PAYLOAD_OPERATOR_METRICS_PORT": str(free_ports(1)[0]),
            # the admin's tenant policy (docs/security.md): the emulator on loopback, the payloads in the workdir
            "PAYLOAD_OPERATOR_TENANT_POLICY": json.dumps(
                {
                    "endpoints": [{"hosts": ["127.0.0.1"], "uses": ["server"], "namespaces": [NAMESPACE]}],
                    "localRoots": [{"path": str(workdir), "namespaces": [NAMESPACE]}],
                }
            ),
        }
        liveness = f"http://127.0.0.1:{free_ports(1)[0]}/healthz"
        operator = subprocess.Popen(
            [sys.executable, "-m", "payload_operator", "run", "-A", "--standalone", f"--liveness={liveness}"],
            env=env,
            stdout=(workdir / "operator.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests(server)))
            wait_for(
                lambda: (
                    "True"
                    in cluster.kubectl(
                        "get",
                        "eps",
                        "-n",
                        NAMESPACE,
                        "demo",
                        "-o",
                        "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                    ).stdout
                ),
                90,
                interval=0.5,
                message="demo resource Ready",
            )
            print(cluster.kubectl("get", "eps", "-A", "-o", "wide").stdout, flush=True)
            print(f"operator log: {workdir / 'operator.log'}")
            if args.once:
                return 0
            print(f"\nexport KUBECONFIG={cluster.kubeconfig}   # then try: kubectl describe eps -n {NAMESPACE} demo")
            print("Ctrl-C stops everything.", flush=True)
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            return 0
        finally:
            operator.terminate()
            try:
                operator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                operator.kill()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
