"""A real Kubernetes control plane for tests: etcd + kube-apiserver v1.20.2 + kube-controller-manager.

Everything listens on free ports chosen at runtime, in a fresh temp dir, so several pytest sessions on
one machine never collide. Authentication: a static admin token (``--token-auth-file``, group
system:masters), client certificates signed by a per-cluster CA (:meth:`Cluster.user_kubeconfig`,
any user name and groups, no restart needed) and ServiceAccount tokens
(:meth:`Cluster.serviceaccount_kubeconfig`). Authorization mode is RBAC.

If ``KUBECONFIG`` was set when this module was first imported (i.e. when pytest started), or
``PAYLOAD_OPERATOR_TEST_KUBECONFIG`` is set, :func:`start_cluster` uses that cluster (e.g. kind on a
laptop) and starts nothing. A KUBECONFIG that a fixture exports later (to point an in-process operator at a
local cluster) is deliberately ignored, so it never turns the next start_cluster() into "use that one".

Binaries: ``scripts/build-k8s.sh`` (prints its cached bin dir; override with PAYLOAD_OPERATOR_K8S_BIN).

    python -m devkit.cluster up      # start one in the foreground; prints KUBECONFIG; Ctrl-C stops
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devkit.procs import (
    REPO_ROOT,
    ManagedProcess,
    ServiceStartError,
    free_ports,
    make_workdir,
    remove_workdir,
    stop_signals,
    tail,
    wait_until_ready,
)
from devkit.waiting import wait_for

ETCD_BIN = os.environ.get("PAYLOAD_OPERATOR_ETCD", "etcd")
# captured once, before any fixture can export KUBECONFIG for an operator under test
_KUBECONFIG_AT_IMPORT = os.environ.get("KUBECONFIG") or None
START_TIMEOUT = 90.0
_PORT_RETRIES = 3


class KubectlError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout: {self.stdout}\nstderr: {self.stderr}"


class ApiError(RuntimeError):
    """A non-2xx answer from the API server. ``status`` is the HTTP code, ``body`` the decoded JSON if any."""

    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        self.status = status
        self.text = text
        try:
            self.body: Any = json.loads(text)
        except ValueError:
            self.body = None
        reason = self.body.get("message", text) if isinstance(self.body, dict) else text
        super().__init__(f"{method} {path} -> {status}: {reason}")


@dataclass(frozen=True)
class StaticUser:
    """An extra line of the apiserver's token file (fixed at start: 1.20 does not reload the file)."""

    name: str
    groups: tuple[str, ...] = ()
    token: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass(frozen=True)
class PlaneOptions:
    """How a control plane for a node (devkit/node.py) differs from the API-server-only default."""

    service_cidr: str = "10.0.0.0/24"
    """Its first address is the `kubernetes` Service IP, which the serving certificate names too."""
    serviceaccount_admission: bool = False
    """Pods get their ServiceAccount's token mounted (off without a node: no pods run)."""
    controllers: str = "garbagecollector,namespace,serviceaccount,serviceaccount-token,csrsigning"
    apiserver_args: tuple[str, ...] = ()


@dataclass
class Cluster:
    kubeconfig: Path
    server: str
    token: str
    workdir: Path
    external: bool = False
    kubectl_bin: str = field(default="kubectl", repr=False)
    ca_cert: Path | None = field(default=None, repr=False)
    ca_key: Path | None = field(default=None, repr=False)
    insecure: bool = field(default=False, repr=False)
    client_cert: Path | None = field(default=None, repr=False)
    client_key: Path | None = field(default=None, repr=False)
    static_users: tuple[StaticUser, ...] = field(default=(), repr=False)

    # ----------------------------------------------------------------- kubectl
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        argv = [self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment for subprocesses (operator, CLI) that points them at this cluster."""
        env = dict(os.environ if base is None else base)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    # ----------------------------------------------------------------- raw REST
    def _ssl_context(self) -> ssl.SSLContext:
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cafile=str(self.ca_cert) if self.ca_cert else None)
        if self.client_cert and self.client_key:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        """Call the API server directly (admin credentials). Returns the decoded JSON; raises ApiError.

        ``content_type`` e.g. ``application/merge-patch+json`` for PATCH.
        """
        data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(method, path, exc.code, exc.read().decode(errors="replace")) from None
        return json.loads(raw) if raw else None

    def exists(self, path: str) -> bool:
        try:
            self.api("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def wait_established(self, *crd_names: str, timeout: float = 120.0) -> None:
        """Until the API server serves each CRD (its Established condition is True).

        Polled through the API rather than `kubectl wait`: kubectl 1.20 fails at once, instead of waiting,
        when a CRD applied a moment ago has no status yet, which a busy API server shows for a while."""

        def established(name: str) -> bool:
            crd = self.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conditions = (crd.get("status") or {}).get("conditions") or []
            return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

        for name in crd_names:
            wait_for(lambda name=name: established(name), timeout, interval=0.2, message=f"CRD {name} established")

    def install_crd(self, path: Path, name: str) -> None:
        """Apply a CRD manifest (--validate=false: 1.20's client schema predates CEL fields) and wait for it."""
        self.kubectl("apply", "--validate=false", "-f", str(path))
        self.wait_established(name)

    # ----------------------------------------------------------------- identities
    def write_kubeconfig(
        self,
        name: str,
        *,
        token: str | None = None,
        client_cert_pem: bytes | None = None,
        client_key_pem: bytes | None = None,
        namespace: str = "default",
    ) -> Path:
        """Write ``<workdir>/kubeconfigs/<name>.yaml`` for this cluster with the given credentials."""
        user: dict[str, str] = {}
        if token is not None:
            user["token"] = token
        if client_cert_pem is not None and client_key_pem is not None:
            user["client-certificate-data"] = base64.b64encode(client_cert_pem).decode()
            user["client-key-data"] = base64.b64encode(client_key_pem).decode()
        cluster: dict[str, Any] = {"server": self.server}
        if self.insecure:
            cluster["insecure-skip-tls-verify"] = True
        elif self.ca_cert is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_cert.read_bytes()).decode()
        path = self.workdir / "kubeconfigs" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_kubeconfig_file(path, cluster, user, namespace)
        return path

    def user_kubeconfig(self, user: str, groups: Sequence[str] = (), *, namespace: str = "default") -> Path:
        """A kubeconfig authenticating as ``user`` in ``groups`` (client certificate from the cluster CA).

        No RBAC is granted: bind roles to the user/groups yourself. On the local cluster the test CA signs
        it directly; on an external cluster it goes through the CertificateSigningRequest API (signer
        kubernetes.io/kube-apiserver-client, approved with the admin credentials).
        """
        if self.ca_cert is not None and self.ca_key is not None:
            cert, key = _issue_client_cert(self.ca_cert, self.ca_key, user, groups)
        else:
            cert, key = self._client_cert_via_csr(user, groups)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
        return self.write_kubeconfig(f"user-{safe}", client_cert_pem=cert, client_key_pem=key, namespace=namespace)

    def _client_cert_via_csr(self, user: str, groups: Sequence[str], timeout: float = 60.0) -> tuple[bytes, bytes]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
        name = f"payload-operator-test-{secrets.token_hex(4)}"
        body = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
                "signerName": "kubernetes.io/kube-apiserver-client",
                "usages": ["client auth"],
            },
        }
        path = f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}"
        created = self.api("POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", body)
        try:
            created["status"] = {
                "conditions": [
                    {"type": "Approved", "status": "True", "reason": "Test", "message": "approved by the test suite"}
                ]
            }
            self.api("PUT", f"{path}/approval", created)
            deadline = time.monotonic() + timeout
            while True:
                issued = (self.api("GET", path).get("status") or {}).get("certificate")
                if issued:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CSR {name} was approved but never signed (is csrsigning enabled?)")
                time.sleep(0.2)
        finally:
            with contextlib.suppress(ApiError):
                self.api("DELETE", path)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return base64.b64decode(issued), key_pem

    def static_user_kubeconfig(self, name: str, *, namespace: str = "default") -> Path:
        """A kubeconfig for a :class:`StaticUser` passed to :func:`start_cluster`."""
        for u in self.static_users:
            if u.name == name:
                return self.write_kubeconfig(f"static-{name}", token=u.token, namespace=namespace)
        raise KeyError(name)

    def ensure_serviceaccount(self, namespace: str, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        try:
            self.api("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", body)
        except ApiError as exc:
            if exc.status != 409:
                raise

    def serviceaccount_token(self, namespace: str, name: str, *, timeout: float = 30.0) -> str:
        """A long-lived token for ServiceAccount ``namespace/name`` (created if missing).

        Creates a ``kubernetes.io/service-account-token`` Secret and waits for the token controller to
        fill it; falls back to the TokenRequest API (24 h token) if no controller fills it.
        """
        self.ensure_serviceaccount(namespace, name)
        secret_name = f"{name}-token-{secrets.token_hex(3)}"
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {"name": secret_name, "annotations": {"kubernetes.io/service-account.name": name}},
        }
        self.api("POST", f"/api/v1/namespaces/{namespace}/secrets", secret)
        deadline = time.monotonic() + min(timeout, 10.0)
        while time.monotonic() < deadline:
            got = self.api("GET", f"/api/v1/namespaces/{namespace}/secrets/{secret_name}")
            token_b64 = (got.get("data") or {}).get("token")
            if token_b64:
                return base64.b64decode(token_b64).decode()
            time.sleep(0.1)
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 86400},
        }
        got = self.api("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", request)
        token: str = got["status"]["token"]
        return token

    def serviceaccount_kubeconfig(self, namespace: str, sa_name: str) -> Path:
        """A kubeconfig that authenticates as ``system:serviceaccount:<namespace>:<sa_name>``."""
        token = self.serviceaccount_token(namespace, sa_name)
        return self.write_kubeconfig(f"sa-{namespace}-{sa_name}", token=token, namespace=namespace)


def _write_kubeconfig_file(path: Path, cluster: dict[str, Any], user: dict[str, str], namespace: str) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user", "namespace": namespace}}],
        "current-context": "local",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)


# --------------------------------------------------------------------- PKI (cryptography)
def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _make_ca(workdir: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "payload-operator-test-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(hours=1))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "ca.crt", workdir / "ca.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _issue_cert(
    ca_cert_path: Path,
    ca_key_path: Path,
    common_name: str,
    organizations: Sequence[str],
    *,
    server: bool,
    service_ip: str = "10.0.0.1",
) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(hours=1))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes"),
                    x509.DNSName("kubernetes.default.svc"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address(service_ip)),
                ]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _issue_client_cert(ca_cert: Path, ca_key: Path, user: str, groups: Sequence[str]) -> tuple[bytes, bytes]:
    return _issue_cert(ca_cert, ca_key, user, groups, server=False)


def _make_sa_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


# --------------------------------------------------------------------- binaries
def k8s_bin_dir() -> Path:
    """The directory with the Kubernetes binaries (built and cached by build-k8s.sh)."""
    override = os.environ.get("PAYLOAD_OPERATOR_K8S_BIN")
    if override:
        return Path(override)
    script = REPO_ROOT / "scripts" / "build-k8s.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ServiceStartError(f"{script} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def find_kubectl(bindir: Path | None = None) -> str:
    """$KUBECTL, else the kubectl built with the local control plane (same version: no skew warning), else PATH's."""
    explicit = os.environ.get("KUBECTL")
    if explicit:
        return explicit
    if bindir is not None and (bindir / "kubectl").is_file():
        return str(bindir / "kubectl")
    found = shutil.which("kubectl")
    if found is None:
        raise ServiceStartError("kubectl not found on PATH (run `make bootstrap`, or set KUBECTL)")
    return found


# --------------------------------------------------------------------- local control plane
class _LocalControlPlane:
    def __init__(
        self, bindir: Path, workdir: Path, static_users: Sequence[StaticUser], options: PlaneOptions = PlaneOptions()
    ) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.static_users = tuple(static_users)
        self.options = options
        self.procs: list[ManagedProcess] = []

    def start(self, timeout: float) -> Cluster:
        w = self.workdir
        pki = w / "pki"
        pki.mkdir()
        etcd_client, etcd_peer, api_port, kcm_port = free_ports(4)
        deadline = time.monotonic() + timeout

        etcd_url = f"http://127.0.0.1:{etcd_client}"
        peer_url = f"http://127.0.0.1:{etcd_peer}"
        etcd = self._spawn(
            "etcd",
            [
                ETCD_BIN, "--name", "local", "--data-dir", str(w / "etcd"),
                "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
                "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                "--initial-cluster", f"local={peer_url}", "--initial-cluster-state", "new",
            ],
        )  # fmt: skip

        # PKI while etcd starts
        ca_cert, ca_key = _make_ca(pki)
        service_ip = str(ipaddress.ip_network(self.options.service_cidr)[1])
        server_cert, server_key = _issue_cert(ca_cert, ca_key, "kube-apiserver", (), server=True, service_ip=service_ip)
        (pki / "apiserver.crt").write_bytes(server_cert)
        (pki / "apiserver.key").write_bytes(server_key)
        _make_sa_key(pki / "sa.key")
        admin_token = secrets.token_hex(16)
        lines = [f"{admin_token},admin,admin,system:masters"]
        for i, u in enumerate(self.static_users):
            line = f"{u.token},{u.name},static-{i}-{u.name}"
            if u.groups:
                line += ',"' + ",".join(u.groups) + '"'
            lines.append(line)
        (pki / "tokens.csv").write_text("\n".join(lines) + "\n")
        (pki / "tokens.csv").chmod(0o600)

        wait_until_ready(
            lambda: b"true" in urllib.request.urlopen(f"{etcd_url}/health", timeout=2).read(),
            timeout=max(1.0, deadline - time.monotonic()),
            what="etcd",
            procs=[etcd],
        )

        self._spawn(
            "kube-apiserver",
            [
                str(self.bindir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}", "--insecure-port=0", f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={ca_cert}",
                f"--token-auth-file={pki / 'tokens.csv'}", "--authorization-mode=RBAC",
                f"--service-cluster-ip-range={self.options.service_cidr}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={pki / 'sa.key'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--allow-privileged=true", "--endpoint-reconciler-type=none", "--profiling=false",
                *([] if self.options.serviceaccount_admission else ["--disable-admission-plugins=ServiceAccount"]),
                *self.options.apiserver_args,
            ],
        )  # fmt: skip

        server = f"https://127.0.0.1:{api_port}"
        cluster = Cluster(
            kubeconfig=w / "kubeconfig",
            server=server,
            token=admin_token,
            workdir=w,
            kubectl_bin=find_kubectl(self.bindir),
            ca_cert=ca_cert,
            ca_key=ca_key,
            static_users=self.static_users,
        )
        cluster_entry = {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_cert.read_bytes()).decode(),
        }
        _write_kubeconfig_file(cluster.kubeconfig, cluster_entry, {"token": admin_token}, "default")

        ctx = cluster._ssl_context()

        def apiserver_ready() -> bool:
            req = urllib.request.Request(f"{server}/readyz", headers={"Authorization": f"Bearer {admin_token}"})
            try:
                with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                    return bool(resp.read().strip() == b"ok")
            except urllib.error.HTTPError:
                return False

        wait_until_ready(
            apiserver_ready,
            timeout=max(1.0, deadline - time.monotonic()),
            what="kube-apiserver",
            procs=self.procs,
        )

        self._spawn(
            "kube-controller-manager",
            [
                str(self.bindir / "kube-controller-manager"),
                f"--kubeconfig={cluster.kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={kcm_port}", "--port=0",
                f"--cert-dir={pki / 'kcm'}",
                f"--controllers={self.options.controllers}",
                f"--cluster-signing-cert-file={ca_cert}", f"--cluster-signing-key-file={ca_key}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={ca_cert}",
                "--use-service-account-credentials=false",
                "--concurrent-gc-syncs=5", "--profiling=false",
            ],
        )  # fmt: skip
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE

        def kcm_ready() -> bool:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{kcm_port}/healthz", context=insecure, timeout=2) as r:
                    return bool(r.read().strip() == b"ok")
            except urllib.error.HTTPError:
                return False

        wait_until_ready(
            kcm_ready,
            timeout=max(1.0, deadline - time.monotonic()),
            what="kube-controller-manager",
            procs=self.procs,
        )
        return cluster

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        proc = ManagedProcess(name, argv, self.workdir / f"{name}.log")
        self.procs.append(proc)
        return proc

    def port_conflict(self) -> bool:
        return any("address already in use" in tail(p.log_path, 200) for p in self.procs)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop(grace=5.0)
        self.procs.clear()


def external_kubeconfig() -> str | None:
    """The kubeconfig of a user-provided cluster, if the tests should use one instead of starting their own."""
    return os.environ.get("PAYLOAD_OPERATOR_TEST_KUBECONFIG") or _KUBECONFIG_AT_IMPORT


def _external_cluster(kubeconfig_env: str) -> Iterator[Cluster]:
    kubectl = find_kubectl()
    workdir = make_workdir("payload-operator-extkube-")
    try:
        proc = subprocess.run(
            [kubectl, "config", "view", "--raw", "--minify", "--flatten", "-o", "json"],
            capture_output=True, text=True, check=True, env={**os.environ, "KUBECONFIG": kubeconfig_env},
        )  # fmt: skip
        cfg = json.loads(proc.stdout)
        cluster_entry: dict[str, Any] = cfg["clusters"][0]["cluster"]
        user_entry: dict[str, Any] = cfg["users"][0]["user"] if cfg.get("users") else {}
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(proc.stdout)
        kubeconfig.chmod(0o600)
        ca = client_cert = client_key = None
        if "certificate-authority-data" in cluster_entry:
            ca = workdir / "ca.crt"
            ca.write_bytes(base64.b64decode(cluster_entry["certificate-authority-data"]))
        if "client-certificate-data" in user_entry and "client-key-data" in user_entry:
            client_cert, client_key = workdir / "client.crt", workdir / "client.key"
            client_cert.write_bytes(base64.b64decode(user_entry["client-certificate-data"]))
            client_key.write_bytes(base64.b64decode(user_entry["client-key-data"]))
            client_key.chmod(0o600)
        yield Cluster(
            kubeconfig=kubeconfig,
            server=str(cluster_entry["server"]).rstrip("/"),
            token=str(user_entry.get("token", "")),
            workdir=workdir,
            external=True,
            kubectl_bin=kubectl,
            ca_cert=ca,
            insecure=bool(cluster_entry.get("insecure-skip-tls-verify", False)),
            client_cert=client_cert,
            client_key=client_key,
        )
    finally:
        remove_workdir(workdir)


@contextmanager
def start_cluster(static_users: Sequence[StaticUser] = (), *, timeout: float = START_TIMEOUT) -> Iterator[Cluster]:
    """Start a private control plane (or use a user-provided one, see :func:`external_kubeconfig`)."""
    external = external_kubeconfig()
    if external:
        yield from _external_cluster(external)
        return
    with local_control_plane(k8s_bin_dir(), static_users, timeout=timeout) as (cluster, _plane):
        yield cluster


@contextmanager
def local_control_plane(
    bindir: Path, static_users: Sequence[StaticUser] = (), options: PlaneOptions = PlaneOptions(), *, timeout: float
) -> Iterator[tuple[Cluster, _LocalControlPlane]]:
    """etcd, kube-apiserver and kube-controller-manager in a fresh temp dir (new ports when one was taken)."""
    for attempt in range(_PORT_RETRIES):
        workdir = make_workdir("payload-operator-kube-", prefer_memory=True)
        plane = _LocalControlPlane(bindir, workdir, static_users, options)
        try:
            cluster = plane.start(timeout)
        except BaseException as exc:
            conflict = isinstance(exc, ServiceStartError) and plane.port_conflict()
            plane.stop()
            remove_workdir(workdir)
            if conflict and attempt + 1 < _PORT_RETRIES:
                continue
            raise
        break
    try:
        yield cluster, plane
    finally:
        plane.stop()
        remove_workdir(workdir)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.cluster")
    parser.add_argument("command", choices=["up"], help="up: start a cluster in the foreground until Ctrl-C")
    parser.parse_args(argv)
    if external_kubeconfig():
        print("KUBECONFIG is set; unset it to start a local cluster", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    with stop_signals() as stop, start_cluster() as cluster:
        print(f"cluster ready in {time.monotonic() - t0:.1f}s; logs in {cluster.workdir}", file=sys.stderr)
        print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
