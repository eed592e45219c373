"""The embedded local default: control plane, emulated server, local storage, the operator, one resource.

    make demo                 # runs until Ctrl-C; prints how to point kubectl at it
    make demo ARGS=--once     # stops after printing `kubectl get eps` (used by the tests)

Everything runs on this machine: kube-apiserver 1.20 + etcd (built by scripts/build-k8s.sh), the Durable
Workflow server emulator from tests/ (the real server cannot run here), a payload directory under
.work/demo, and `payload-operator run` as a subprocess, exactly as it runs in a cluster. It applies the
CRD, then a namespace `payloads-demo` with the admin-token Secret `dw-admin` and the resource of
examples/local/ (named `demo`, pointed at the emulator and the payload directory).

It never touches another cluster unless asked: with KUBECONFIG set it refuses, and `--use-kubeconfig`
opts in (the namespace it made, and the CRD if it made it, are deleted again on the way out).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devkit.cluster import Cluster, start_cluster  # noqa: E402
from devkit.dw_emulator import EmulatedServer, Tokens  # noqa: E402
from devkit.procs import free_ports, stop_signals  # noqa: E402
from devkit.settings import operator_env  # noqa: E402
from devkit.waiting import wait_for  # noqa: E402

NAMESPACE = "payloads-demo"
CRD = "externalpayloadstorages.payloads.durable-workflow.io"
TOKEN = "demo-admin-token"


def manifests(server: EmulatedServer) -> list[dict[str, object]]:
    """The demo namespace, the admin-token Secret and the example resource pointed at the emulator."""
    example = yaml.safe_load((REPO / "examples" / "local" / "externalpayloadstorage.yaml").read_text())
    example["metadata"]["namespace"] = NAMESPACE
    example["spec"]["server"]["url"] = server.url
    example["spec"]["local"]["path"] = str(server.local_root)
    # a weekly integrity check of what is stored, so `kubectl eps verify` has something to run (Inventory: the
    # emulator answers like the captured real server, whose cluster-info names no reference schema); in the
    # operator's process, since the demo's control plane has no node for Jobs
    example["spec"]["integrity"] = {"schedule": "@weekly", "mode": "Inventory"}
    example["spec"]["runner"] = {"type": "InProcess"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "dw-admin",
                "namespace": NAMESPACE,
                "labels": {"payloads.durable-workflow.io/consent": "true"},  # the operator reads only these
            },
            "stringData": {"token": TOKEN},
        },
        example,
    ]


def external_leftovers(cluster: Cluster) -> list[str]:
    """What the demo will make in a cluster it does not own, so it can take exactly that away again."""
    made = [f"namespace/{NAMESPACE}"]
    if cluster.kubectl("get", f"crd/{CRD}", check=False).returncode != 0:
        made.append(f"crd/{CRD}")
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="exit after the resource is Ready")
    parser.add_argument(
        "--use-kubeconfig",
        action="store_true",
        help="use the cluster of $KUBECONFIG instead of refusing (installs the CRD, a namespace and an operator)",
    )
    args = parser.parse_args()
    if os.environ.get("KUBECONFIG") and not args.use_kubeconfig:
        print(
            f"KUBECONFIG is set ({os.environ['KUBECONFIG']}): the demo would install the CRD, the namespace "
            f"{NAMESPACE} and a second operator into that cluster, so it stops here.\n"
            "Unset KUBECONFIG to run on the embedded local control plane, "
            "or opt in with `make demo ARGS=--use-kubeconfig`.",
            file=sys.stderr,
        )
        return 2
    workdir = REPO / ".work" / "demo"
    (workdir / "payloads").mkdir(parents=True, exist_ok=True)
    print("starting the local control plane (kube-apiserver 1.20 + etcd)...", flush=True)
    with (
        start_cluster() as cluster,
        EmulatedServer(
            generation="A",
            tokens=Tokens(admin=TOKEN, operator="demo-operator", worker="demo-worker"),
            namespaces=["orders", "billing"],
            local_root=workdir / "payloads",  # Gen A as captured from the real server (the default profile)
        ) as server,
    ):
        print(f"Durable Workflow server emulator at {server.url}", flush=True)
        created = external_leftovers(cluster) if args.use_kubeconfig else None
        cluster.install_crd(REPO / "crds" / "externalpayloadstorages.yaml", CRD)
        # the admin's tenant policy (docs/security.md): the emulator on loopback, the payloads in the workdir
        demo_policy = {
            "endpoints": [{"hosts": ["127.0.0.1"], "uses": ["server"], "namespaces": [NAMESPACE]}],
            "localRoots": [{"path": str(workdir), "namespaces": [NAMESPACE]}],
            "inProcessNamespaces": [NAMESPACE],
        }
        env = (
            cluster.env()
            | operator_env(timer=5.0, tenant_policy=demo_policy)
            | {"PAYLOAD_OPERATOR_METRICS_PORT": str(free_ports(1)[0])}
        )
        liveness = f"http://127.0.0.1:{free_ports(1)[0]}/healthz"
        operator = subprocess.Popen(
            [sys.executable, "-m", "payload_operator", "run", "-A", "--standalone", f"--liveness={liveness}"],
            env=env,
            stdout=(workdir / "operator.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the demo only, which stops the operator before its cluster
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
            kubectl = cluster.kubectl_bin if created is None else "kubectl"  # the local plane's own version
            print(f"\nexport KUBECONFIG={cluster.kubeconfig}")
            print(f"{kubectl} describe eps -n {NAMESPACE} demo   # for example", flush=True)
            print(f"{kubectl} eps verify demo -n {NAMESPACE}   # the plugin (kubectl-eps on PATH)", flush=True)
            print("Ctrl-C stops everything.", flush=True)
            wait_for_stop_signal()
            return 0
        finally:
            stop_operator(operator, workdir / "operator.log")
            if created is not None:
                remove_from_external_cluster(cluster, created)
            plane = "" if created is not None else " and the local control plane (kube-apiserver, etcd)"
            print(f"stopping the server emulator{plane}", flush=True)


def wait_for_stop_signal() -> None:
    """Block until Ctrl-C or SIGTERM; the callers' finally blocks then stop everything in order."""
    with stop_signals() as stop:
        stop.wait()
    print("", flush=True)


def stop_operator(operator: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, so Kopf stops its watchers and says so in its log; a kill only if it hangs."""
    print(f"stopping the operator (pid {operator.pid}; its shutdown lines go to {log})", flush=True)
    operator.terminate()
    try:
        operator.wait(timeout=10)
    except subprocess.TimeoutExpired:
        print("the operator did not stop within 10 s: killing it", flush=True)
        operator.kill()
        operator.wait()


def remove_from_external_cluster(cluster: Cluster, created: list[str]) -> None:
    """--use-kubeconfig: delete what the demo made there (its namespace, the CRD only if it was not there)."""
    print(f"deleting what the demo applied to the cluster of $KUBECONFIG: {', '.join(created)}", flush=True)
    for resource in created:
        cluster.kubectl("delete", "--ignore-not-found", "--wait=false", resource)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
