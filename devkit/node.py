"""A one-node Kubernetes cluster whose Pods and Jobs really run, for the `node` test suite.

The control plane of :mod:`devkit.cluster` (etcd, kube-apiserver, kube-controller-manager, here with
ServiceAccount admission and every controller) plus kube-scheduler, a kubelet, containerd and a CNI bridge,
all v1.20.2 / apt packages, each with its own directories, sockets and ports (docs/testing.md, "Real node").

Network: the CNI `bridge` plugin puts pods on a bridge of their own (``po-node-<n>``, 10.<n>.0.0/16) that
this module creates with the address 10.<n>.0.1. Pods reach that address on-link, so no gateway, route,
``ip_forward`` or iptables change is needed, and they can reach nothing else. Host servers that pods must
talk to (the API server, the Durable Workflow emulator, moto, RGW) listen on 127.0.0.1, so
:meth:`NodeCluster.expose` relays ``10.<n>.0.1:<port>`` to them with socat. The `kubernetes` Service IP is
10.<n>.0.1 too (the first address of the service range), relayed on port 443 to the API server: pods use
in-cluster config unchanged, with their own ServiceAccount tokens, so RBAC applies to them. No kube-proxy:
other ClusterIP Services do not route.

    python -m devkit.node up [--image TAR]   # start in the background; prints `export KUBECONFIG=...`
    python -m devkit.node down               # stop what `up` started (kubelet first), clean up after it
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from devkit.cluster import (
    Cluster,
    PlaneOptions,
    _issue_cert,
    _LocalControlPlane,
    _make_ca,
    k8s_bin_dir,
    local_control_plane,
)
from devkit.procs import (
    REPO_ROOT,
    ManagedProcess,
    ServiceStartError,
    free_ports,
    make_workdir,
    remove_workdir,
    stop_signals,
    wait_until_ready,
)

START_TIMEOUT = 420.0  # node Ready takes 35-72 s; several suites on two busy cores took over 180 s
CNI_BIN = Path(os.environ.get("PAYLOAD_OPERATOR_CNI_BIN", "/usr/lib/cni"))
CACHE = Path(os.environ.get("PAYLOAD_OPERATOR_CACHE", Path.home() / ".cache" / "payload-operator"))
STATE_DIR = REPO_ROOT / ".work" / "node-cluster"
PAUSE_IMAGE = "docker.io/library/payload-operator-pause:1"
CLUSTER_DOMAIN = "cluster.local"
SUBNETS = range(200, 250)  # 10.<n>.0.0/16: the first one with no address or route on this machine
PAUSE_GO = """package main

import (
	"os"
	"os/signal"
	"syscall"
)

// The pod sandbox's process: holds the namespaces, exits on INT or TERM.
func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
"""


@dataclass
class NodeCluster:
    """A running node: admin access through :attr:`cluster`, pods on the bridge of :attr:`gateway`."""

    cluster: Cluster
    node_name: str
    gateway: str
    """The host's address on the pods' bridge (also the `kubernetes` Service IP)."""
    workdir: Path
    containerd_socket: Path
    processes: dict[str, ManagedProcess] = field(default_factory=dict, repr=False)
    relays: dict[int, ManagedProcess] = field(default_factory=dict, repr=False)
    containerd_argv: list[str] = field(default_factory=list, repr=False)
    started: float = field(default_factory=time.time, repr=False)
    own: bool = True
    """False for a user's cluster (:func:`use_cluster_node`): its nodes' containerd and filesystem are out of reach."""
    image: str = ""
    """The operator image its pods run (repository:tag), as whoever put it there says."""
    image_pull_policy: str = "Never"

    def expose(self, port: int, *, target: int | None = None) -> str:
        """Relay ``gateway:port`` to ``127.0.0.1:target`` (default the same port) for pods; returns host:port."""
        if port not in self.relays:
            relay = ManagedProcess(
                f"relay-{port}",
                [
                    "socat",
                    f"TCP-LISTEN:{port},bind={self.gateway},reuseaddr,fork",
                    f"TCP:127.0.0.1:{target or port}",
                ],
                self.workdir / f"relay-{port}.log",
            )
            self.relays[port] = relay
            wait_until_ready(
                lambda: _listening(self.gateway, port), timeout=10, what=f"relay to port {port}", procs=[relay]
            )
        return f"{self.gateway}:{port}"

    def pod_url(self, url: str) -> str:
        """``url`` of a server on 127.0.0.1, as pods reach it (the port is relayed on first use)."""
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
            raise ValueError(f"not a loopback URL with a port: {url}")
        return urlunsplit(parts._replace(netloc=self.expose(parts.port)))

    def ctr(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """containerd's `ctr` on this node, in the Kubernetes namespace."""
        if not self.own:
            raise RuntimeError(f"the containerd of {self.node_name} (a user's cluster) is out of reach")
        argv = ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)

    def import_image(self, tar: Path) -> None:
        """Load a `docker save` / OCI archive, as if pulled (names become docker.io/library/<name>)."""
        self.ctr("images", "import", str(tar))

    def kill_container(self, container_id: str) -> None:
        """SIGKILL a container's main process through containerd (an OOM kill or a crash: no exit handler runs).

        `container_id` as a pod's status reports it (`containerd://<id>`); the kubelet restarts the container.
        """
        self.ctr("tasks", "kill", "--signal", "SIGKILL", container_id.removeprefix("containerd://"), timeout=30)

    def restart_containerd(self) -> None:
        """Stop containerd and start it again; running containers (their shims) survive, as on a real node."""
        self.processes["containerd"].stop(grace=10.0)
        self.processes["containerd"] = self._start_containerd()

    def _start_containerd(self) -> ManagedProcess:
        proc = ManagedProcess("containerd", self.containerd_argv, self.workdir / "containerd.log")
        wait_until_ready(
            lambda: self.ctr("version", timeout=5).returncode == 0,
            timeout=30,
            what="containerd",
            procs=[proc],
        )
        return proc


# --------------------------------------------------------------------- start / stop
@contextmanager
def use_cluster_node(cluster: Cluster, host_address: str, image: str, pull_policy: str) -> Iterator[NodeCluster]:
    """A user's cluster (kind, ...) in the node suite's terms: its pods reach servers on this host at
    `host_address` through relays; its containerd and node filesystem stay out of reach (`own` is False)."""
    workdir = make_workdir("payload-operator-user-node-")
    names = [item["metadata"]["name"] for item in cluster.api("GET", "/api/v1/nodes")["items"]]
    node = NodeCluster(
        cluster, names[0], host_address, workdir, Path(), own=False, image=image, image_pull_policy=pull_policy
    )
    try:
        yield node
    finally:
        for relay in node.relays.values():
            relay.stop()
        remove_workdir(workdir)


@contextmanager
def start_node_cluster(images: Sequence[Path] = (), *, timeout: float = START_TIMEOUT) -> Iterator[NodeCluster]:
    """Start a one-node cluster, import ``images`` (docker-save tarballs), and tear it all down afterwards."""
    _check_tools()
    bindir = k8s_bin_dir()
    deadline = time.monotonic() + timeout
    workdir = make_workdir("payload-operator-node-")
    subnet, bridge = _claim_bridge()
    gateway = str(subnet[1])
    name = bridge
    try:
        kubelet_ca, kubelet_ca_key = _make_ca(workdir)
        client_cert, client_key = _issue_cert(kubelet_ca, kubelet_ca_key, "kube-apiserver", (), server=False)
        (workdir / "apiserver-kubelet-client.crt").write_bytes(client_cert)
        (workdir / "apiserver-kubelet-client.key").write_bytes(client_key)
        options = PlaneOptions(
            service_cidr=str(ipaddress.ip_network(f"{subnet[0]}/24")),
            serviceaccount_admission=True,
            controllers="*",
            apiserver_args=(
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={workdir / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={workdir / 'apiserver-kubelet-client.key'}",
            ),
        )
        with local_control_plane(bindir, (), options, timeout=timeout) as (cluster, plane):
            node = NodeCluster(cluster, name, gateway, workdir, workdir / "containerd" / "containerd.sock")
            try:
                _start_node(node, bindir, subnet, bridge, kubelet_ca, images, deadline)
                yield node
            finally:
                _stop_node(node, plane, bridge)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=True)
        remove_workdir(workdir)


def _check_tools() -> None:
    tools = ("containerd", "runc", "ctr", "socat", "dnsmasq", "ip", "go")
    missing = [t for t in tools if shutil.which(t) is None]
    missing += [str(CNI_BIN / p) for p in ("bridge", "host-local", "loopback") if not (CNI_BIN / p).exists()]
    if missing:
        raise ServiceStartError(
            f"a node needs {', '.join(missing)}: apt install containerd runc containernetworking-plugins "
            "socat dnsmasq-base iproute2 golang-go (scripts/bootstrap.sh does)"
        )


def _claim_bridge() -> tuple[ipaddress.IPv4Network, str]:
    """The first free 10.<n>.0.0/16 and its bridge, created with the address 10.<n>.0.1 (names are claims)."""
    used = [
        ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
        for link in json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, check=True).stdout)
        for a in link.get("addr_info", [])
        if a.get("family") == "inet"
    ]
    for n in SUBNETS:
        subnet = ipaddress.ip_network(f"10.{n}.0.0/16")
        bridge = f"po-node-{n}"
        if any(subnet.overlaps(u) for u in used):
            continue
        created = subprocess.run(
            ["ip", "link", "add", "name", bridge, "type", "bridge"], capture_output=True, check=False
        )
        if created.returncode != 0:
            continue  # another node of this machine has it
        subprocess.run(["ip", "addr", "add", f"{subnet[1]}/16", "dev", bridge], check=True)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        return subnet, bridge
    raise ServiceStartError("no free 10.<n>.0.0/16 subnet for the pod bridge")


def _start_node(
    node: NodeCluster,
    bindir: Path,
    subnet: ipaddress.IPv4Network,
    bridge: str,
    client_ca: Path,
    images: Sequence[Path],
    deadline: float,
) -> None:
    w = node.workdir
    cluster = node.cluster
    # pods reach the API server at the `kubernetes` Service IP, port 443, also by its name (cluster DNS)
    node.expose(443, target=int(urlsplit(cluster.server).port or 443))
    node.processes["dns"] = _start_dns(w, node.gateway)
    scheduler_port, kubelet_port, healthz_port = free_ports(3)
    node.processes["kube-scheduler"] = ManagedProcess(
        "kube-scheduler",
        [
            str(bindir / "kube-scheduler"), f"--kubeconfig={cluster.kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={scheduler_port}", "--port=0", "--leader-elect=false",
            f"--cert-dir={w / 'scheduler'}", "--profiling=false",
        ],
        w / "kube-scheduler.log",
    )  # fmt: skip
    _write_cni_config(w, subnet, bridge)
    node.containerd_argv = ["containerd", "--config", str(_write_containerd_config(w))]
    node.processes["containerd"] = node._start_containerd()
    node.import_image(_pause_image(w))
    for image in images:
        node.import_image(image)
    _make_cgroup_root(bridge)
    node.processes["kubelet"] = ManagedProcess(
        "kubelet",
        [
            str(bindir / "kubelet"), f"--kubeconfig={cluster.kubeconfig}",
            "--container-runtime=remote", f"--container-runtime-endpoint=unix://{node.containerd_socket}",
            "--cgroup-driver=cgroupfs", f"--cgroup-root=/{bridge}", "--fail-swap-on=false", "--oom-score-adj=0",
            "--make-iptables-util-chains=false", f"--hostname-override={node.node_name}",
            f"--cluster-dns={node.gateway}", f"--cluster-domain={CLUSTER_DOMAIN}",
            f"--node-ip={node.gateway}", f"--address={node.gateway}", f"--port={kubelet_port}",
            "--read-only-port=0", "--healthz-bind-address=127.0.0.1", f"--healthz-port={healthz_port}",
            f"--client-ca-file={client_ca}", "--anonymous-auth=false", "--authorization-mode=AlwaysAllow",
            f"--root-dir={w / 'kubelet'}", f"--cert-dir={w / 'kubelet' / 'pki'}",
            f"--volume-plugin-dir={w / 'kubelet' / 'volume-plugins'}",
            # imported images cannot be pulled again: never collect them
            "--image-gc-high-threshold=100", "--image-gc-low-threshold=99",
            "--eviction-hard=memory.available<100Mi,nodefs.available<1%,imagefs.available<1%",
        ],
        w / "kubelet.log",
    )  # fmt: skip
    procs = [*node.processes.values()]

    def node_ready() -> bool:
        try:
            body = cluster.api("GET", f"/api/v1/nodes/{node.node_name}")
        except Exception:
            return False
        conditions = body.get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    wait_until_ready(node_ready, timeout=max(1.0, deadline - time.monotonic()), what="node Ready", procs=procs)
    wait_until_ready(
        lambda: cluster.exists("/api/v1/namespaces/default/serviceaccounts/default"),
        timeout=max(1.0, deadline - time.monotonic()),
        what="the default ServiceAccount",
        procs=procs,
    )


def _start_dns(workdir: Path, address: str) -> ManagedProcess:
    """The cluster DNS, as far as pods need one: `kubernetes.default.svc` (what in-cluster clients such as
    Kopf connect to) is the Service IP; other names in the cluster domain do not exist; nothing is forwarded."""
    service = "kubernetes.default.svc"
    dns = ManagedProcess(
        "dns",
        [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", f"--listen-address={address}", "--pid-file=", "--log-facility=-",
            f"--local=/{CLUSTER_DOMAIN}/", f"--address=/{service}.{CLUSTER_DOMAIN}/{address}",
            f"--address=/{service}/{address}",
        ],
        workdir / "dns.log",
    )  # fmt: skip
    wait_until_ready(lambda: _dns_answers(address, f"{service}.{CLUSTER_DOMAIN}"), timeout=10, what="DNS", procs=[dns])
    return dns


def _dns_answers(server: str, name: str) -> bool:
    """Whether ``server`` answers an A query for ``name`` (a minimal DNS request over UDP)."""
    import socket
    import struct

    question = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0"
    query = struct.pack(">HHHHHH", 0x504F, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        s.sendto(query, (server, 53))
        answer = s.recv(512)
    return answer[:2] == query[:2] and struct.unpack(">H", answer[6:8])[0] > 0


def _write_cni_config(workdir: Path, subnet: ipaddress.IPv4Network, bridge: str) -> None:
    """Bridge + host-local: pods get addresses next to the host's bridge address, and no routes beyond it."""
    config = {
        "cniVersion": "0.4.0",
        "name": bridge,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": False,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(subnet), "rangeStart": str(subnet[256]), "gateway": str(subnet[1])}]],
                    "dataDir": str(workdir / "cni" / "ipam"),
                },
            }
        ],
    }
    conf_dir = workdir / "cni" / "net.d"
    conf_dir.mkdir(parents=True)
    (conf_dir / "10-payload-operator.conflist").write_text(json.dumps(config, indent=2))


def _write_containerd_config(workdir: Path) -> Path:
    """containerd with its own root, state and socket; the CRI settings these VMs need."""
    d = workdir / "containerd"
    d.mkdir()
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    text = f"""version = 2
root = "{d / "root"}"
state = "{d / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{d / "containerd.sock"}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # the VM lacks CAP_SYS_RESOURCE: runc could not lower oom_score_adj below the kubelet's own
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{d / "runc"}"
[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{workdir / "cni" / "net.d"}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / "opt"}"
"""
    path = d / "config.toml"
    path.write_text(text)
    return path


def _pause_image(workdir: Path) -> Path:
    """A docker-save archive of the sandbox image: a static Go program that waits for a signal (no registry)."""
    key = hashlib.sha256(PAUSE_GO.encode()).hexdigest()[:12]
    binary = CACHE / "pause" / key / "pause"
    if not binary.exists():
        src = CACHE / "pause" / key / "src"
        src.mkdir(parents=True, exist_ok=True)
        (src / "go.mod").write_text("module pause\n\ngo 1.19\n")
        (src / "main.go").write_text(PAUSE_GO)
        env = {**os.environ, "CGO_ENABLED": "0", "GOPROXY": "off", "GOFLAGS": "-mod=mod"}
        subprocess.run(
            ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", f"{binary}.tmp", "."],
            cwd=src, env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        os.replace(f"{binary}.tmp", binary)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tar.gettarinfo(str(binary), arcname="pause")
        info.uid = info.gid = 0
        info.mode = 0o755
        with binary.open("rb") as f:
            tar.addfile(info, f)
    layer_bytes = layer.getvalue()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer_bytes).hexdigest()}"]},
    }
    config_bytes = json.dumps(config).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    manifest = [
        {"Config": config_name, "RepoTags": [PAUSE_IMAGE.removeprefix("docker.io/library/")], "Layers": ["layer.tar"]}
    ]
    archive = workdir / "pause.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (
            ("layer.tar", layer_bytes),
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def _cgroup_dirs(root_name: str) -> list[Path]:
    """The kubelet's cgroup root in each cgroup v1 hierarchy."""
    base = Path("/sys/fs/cgroup")
    return [h / root_name for h in sorted(base.iterdir()) if h.is_dir() and h.name != "unified" and not h.is_symlink()]


def _make_cgroup_root(root_name: str) -> None:
    """The kubelet's --cgroup-root must exist; a fresh cpuset needs its cpus and mems before tasks join."""
    for path in _cgroup_dirs(root_name):
        path.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (path / knob).exists() and not (path / knob).read_text().strip():
                (path / knob).write_text((path.parent / knob).read_text())


# --------------------------------------------------------------------- teardown
def _stop_node(node: NodeCluster, plane: _LocalControlPlane, bridge: str) -> None:
    """Drain, then stop the kubelet first, containerd and its shims, and remove what they left outside workdir."""
    cluster = node.cluster
    namespaces: set[str] = set()
    with contextlib.suppress(Exception):
        namespaces = {n["metadata"]["name"] for n in cluster.api("GET", "/api/v1/namespaces")["items"]}
    # no new pods from controllers or the scheduler; then the kubelet stops the running ones
    for proc in [
        node.processes.get("kube-scheduler"),
        *(p for p in plane.procs if p.name == "kube-controller-manager"),
    ]:
        if proc is not None:
            proc.stop()
    with contextlib.suppress(Exception):
        cluster.kubectl(
            "delete", "pods", "--all", "--all-namespaces", "--grace-period=0", "--force", "--wait=false", timeout=60
        )
    with contextlib.suppress(ServiceStartError):
        wait_until_ready(lambda: not _tasks(node), timeout=30, what="pods stopped")
    if "kubelet" in node.processes:
        node.processes["kubelet"].stop(grace=10.0)
    for task in _tasks(node):  # what the kubelet did not stop in time
        with contextlib.suppress(subprocess.SubprocessError):
            node.ctr("tasks", "kill", "--signal", "SIGKILL", task, timeout=30)
    if "containerd" in node.processes:
        node.processes["containerd"].stop(grace=10.0)
    for proc in [*node.relays.values(), node.processes.get("dns")]:
        if proc is not None:
            proc.stop()
    _clean_node_leftovers(node.workdir, node.containerd_socket, bridge)
    _remove_pod_logs(namespaces, node.started)


def _clean_node_leftovers(workdir: Path, socket: Path, bridge: str) -> None:
    """Shims, mounts, the bridge (and with it the pods' veths) and cgroups, once the node's processes stopped."""
    _kill_shims(socket)
    _unmount_below(workdir)
    with contextlib.suppress(subprocess.CalledProcessError):
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=True)
    _remove_cgroups(bridge)


def _tasks(node: NodeCluster) -> list[str]:
    try:
        return node.ctr("tasks", "ls", "--quiet", timeout=10).stdout.split()
    except (subprocess.SubprocessError, OSError):
        return []


def _kill_shims(socket: Path) -> None:
    """containerd-shim-runc-v2 processes of this containerd (they outlive it by design)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _unmount_below(root: Path) -> None:
    """Volumes, rootfs overlays and network namespaces the kubelet and containerd mounted in their dirs."""
    prefix = str(root) + "/"
    for _ in range(3):
        mounts = [
            line.split()[4].replace("\\040", " ")
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(prefix)
        ]
        if not mounts:
            return
        for mount in reversed(mounts):
            subprocess.run(["umount", "--lazy", mount], capture_output=True, check=False)


def _remove_cgroups(root_name: str) -> None:
    for top in _cgroup_dirs(root_name):
        if not top.exists():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda entry: -entry[0].count("/")):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def _remove_pod_logs(namespaces: set[str], started: float) -> None:
    """/var/log/pods and /var/log/containers entries of this cluster's namespaces made since it started."""
    pods, containers = Path("/var/log/pods"), Path("/var/log/containers")
    for entry in pods.iterdir() if pods.exists() else ():
        if entry.name.split("_")[0] in namespaces and entry.stat().st_mtime >= started:
            shutil.rmtree(entry, ignore_errors=True)
    for entry in containers.iterdir() if containers.exists() else ():
        parts = entry.name.split("_")
        if len(parts) >= 3 and parts[1] in namespaces and not entry.exists():  # dangling: its pod dir is gone
            entry.unlink(missing_ok=True)


def _listening(host: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


# --------------------------------------------------------------------- make cluster-up / cluster-down
def _serve(state: Path, images: Sequence[Path]) -> int:
    """Run a node until SIGTERM, publishing its kubeconfig and processes in ``state``."""
    with stop_signals() as stop, start_node_cluster(images) as node:
        shutil.copy(node.cluster.kubeconfig, state / "kubeconfig")
        record: dict[str, Any] = {
            "supervisor": os.getpid(),
            "bridge": node.node_name,
            "workdir": str(node.workdir),
            "containerd_socket": str(node.containerd_socket),
            # stop order if the supervisor is gone: the kubelet first
            "processes": [[name, node.processes[name].pid] for name in ("kubelet", "containerd", "kube-scheduler")],
        }
        (state / "cluster.json").write_text(json.dumps(record, indent=2))
        stop.wait()
    return 0


def _up(state: Path, images: Sequence[Path]) -> int:
    if (state / "cluster.json").exists() and _alive(json.loads((state / "cluster.json").read_text())["supervisor"]):
        print(f"a node cluster already runs (state in {state}); `make cluster-down` first", file=sys.stderr)
        return 1
    state.mkdir(parents=True, exist_ok=True)
    for stale in ("cluster.json", "kubeconfig"):
        (state / stale).unlink(missing_ok=True)
    t0 = time.monotonic()
    with (state / "supervisor.log").open("ab") as log:
        argv = [sys.executable, "-m", "devkit.node", "serve", "--state", str(state)]
        argv += [arg for image in images for arg in ("--image", str(image))]
        supervisor = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True, cwd=REPO_ROOT)
    while not (state / "cluster.json").exists():
        if supervisor.poll() is not None:
            print((state / "supervisor.log").read_text()[-4000:], file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(f"node cluster ready in {time.monotonic() - t0:.0f} s; logs: {state / 'supervisor.log'}", file=sys.stderr)
    print(f"export KUBECONFIG={state / 'kubeconfig'}")
    return 0


def _down(state: Path, timeout: float = 180.0) -> int:
    record_path = state / "cluster.json"
    if not record_path.exists():
        print(f"no node cluster recorded in {state}", file=sys.stderr)
        return 0
    record = json.loads(record_path.read_text())
    supervisor = int(record["supervisor"])
    if _alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)  # it stops the kubelet first and cleans up (see _stop_node)
        deadline = time.monotonic() + timeout
        while _alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _alive(supervisor):
            print(f"supervisor {supervisor} still running after {timeout:.0f} s", file=sys.stderr)
            return 1
    else:  # the supervisor was killed: stop its node processes by their recorded PIDs, then clean up
        for name, pid in record["processes"]:
            if _alive(pid, record["workdir"]):
                print(f"stopping {name} ({pid})", file=sys.stderr)
                _stop_pid(pid)
        _clean_node_leftovers(Path(record["workdir"]), Path(record["containerd_socket"]), record["bridge"])
    record_path.unlink()
    (state / "kubeconfig").unlink(missing_ok=True)
    print("node cluster stopped", file=sys.stderr)
    return 0


def _alive(pid: int, marker: str = "devkit.node") -> bool:
    """Whether ``pid`` runs and is still the process recorded (its command line names ``marker``)."""
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _stop_pid(pid: int, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.node", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "serve"])
    parser.add_argument("--state", type=Path, default=STATE_DIR, help="where the kubeconfig and PIDs are kept")
    parser.add_argument("--image", type=Path, action="append", default=[], help="image archive to import")
    args = parser.parse_args(argv)
    if args.command == "up":
        return _up(args.state, args.image)
    if args.command == "down":
        return _down(args.state)
    return _serve(args.state, args.image)


if __name__ == "__main__":
    raise SystemExit(_main())
