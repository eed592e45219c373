"""Issue 14's attacks against the running operator, by someone who may only create resources in one namespace
(a ServiceAccount with the built-in `edit` role there and nothing else applies every hostile resource).

The operator runs as a process configured like a pod (PAYLOAD_OPERATOR_* variables), with an ambient cloud
identity it could be tricked into lending: a GCE metadata server and an Azure managed-identity endpoint on
loopback that mint a distinctive bearer token. Each test first shows the refusal under the admin's policy and,
where the attack needs a working operator to prove it is real, the same resource succeeding once the admin
allows it (which is what every install did before the tenant policy existed).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from devkit.arm_emulator.tls import write_self_signed
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.httpserver import local_http_server
from devkit.operator_process import OperatorProcess
from devkit.services import S3Endpoint
from devkit.values import SECRETS
from devkit.waiting import wait_for

from payload_operator.planning.tenancy import DENIED
from tests.drills.kube import apply, condition, eps, patch_spec, s3_secret, token_secret, wait_all
from tests.drills.leaks import assert_no_secrets, gather
from tests.drills.storage import s3_bucket
from tests.support.tenant import edit_tenant

REPO = Path(__file__).resolve().parents[2]
AMBIENT_TOKEN = f"ambient-{secrets.token_hex(16)}"
SERVER_ONLY = {"endpoints": [{"hosts": ["127.0.0.1"], "uses": ["server"]}]}
"""The admin's defaults, plus a server on loopback (the drill's): every refusal below is the resource's doing."""


@dataclass
class Recorder:
    """What a loopback HTTP peer was asked: (method, path, Authorization header) per request."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, path: str, authorization: str) -> None:
        with self.lock:
            self.requests.append((method, path, authorization))

    def carrying(self, token: str) -> list[tuple[str, str, str]]:
        with self.lock:
            return [r for r in self.requests if token in r[2]]

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


def _handler(recorder: Recorder, answer: Callable[[str], tuple[int, dict[str, str], bytes]]) -> type:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            recorder.add(self.command, self.path, self.headers.get("Authorization", ""))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = answer(self.path)
            self.send_response(status)
            for name, value in (headers | {"Content-Length": str(len(body))}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _any

        def log_message(self, *_: object) -> None:
            return

    return Handler


def _identity_answer(path: str) -> tuple[int, dict[str, str], bytes]:
    """A GCE metadata server and an Azure App Service identity endpoint in one: both mint AMBIENT_TOKEN."""
    flavor = {"Metadata-Flavor": "Google"}
    as_json = {"Content-Type": "application/json"}
    if "/service-accounts/default/token" in path or path.startswith("/msi/token"):
        body = {"access_token": AMBIENT_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
        body |= {"expires_on": "9999999999", "resource": "https://storage.azure.com"}
        return 200, flavor | as_json, json.dumps(body).encode()
    if "/service-accounts/default/" in path:
        info = {"email": "operator@drill.iam.gserviceaccount.com", "aliases": ["default"], "scopes": []}
        return 200, flavor | as_json, json.dumps(info).encode()
    if path.endswith("/project/project-id"):
        return 200, flavor | {"Content-Type": "text/plain"}, b"drill-project"
    if path in ("/", ""):  # google-auth's "am I on GCE?" ping
        return 200, flavor | {"Content-Type": "text/plain"}, b""
    return 404, flavor | {"Content-Type": "text/plain"}, b""  # e.g. universe-domain: the default applies


def _not_found(_: str) -> tuple[int, dict[str, str], bytes]:
    return 404, {"Content-Type": "application/json"}, b'{"error": {"code": 404, "message": "no such bucket"}}'


@dataclass
class Peers:
    """The ambient identity and the tenant's hosts that would like to capture it."""

    identity: Recorder
    identity_url: str
    gcs: Recorder
    gcs_url: str
    azure: Recorder
    azure_url: str
    server: Recorder
    server_url: str
    ca_file: Path


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    tls = write_self_signed(tmp_path)
    recorders = [Recorder() for _ in range(4)]
    identity, gcs, azure, server = recorders
    with (
        local_http_server(_handler(identity, _identity_answer)) as identity_url,
        local_http_server(_handler(gcs, _not_found)) as gcs_url,
        local_http_server(_handler(azure, _not_found), tls) as azure_url,
        local_http_server(_handler(server, _not_found)) as server_url,
    ):
        yield Peers(identity, identity_url, gcs, gcs_url, azure, azure_url, server, server_url, tls[0])


def _ambient_identity(peers: Peers) -> dict[str, str]:
    """The environment of a pod with an ambient identity on GCP and Azure (Workload Identity, managed identity)."""
    metadata = peers.identity_url.removeprefix("http://")
    return {
        "GCE_METADATA_HOST": metadata,
        "GCE_METADATA_IP": metadata,
        "IDENTITY_ENDPOINT": f"{peers.identity_url}/msi/token",
        "IDENTITY_HEADER": "drill",
        "REQUESTS_CA_BUNDLE": str(peers.ca_file),
        "STORAGE_EMULATOR_HOST": "",
        "AZURE_STORAGE_CONNECTION_STRING": "",
        "GOOGLE_APPLICATION_CREDENTIALS": "",
    }


def _ambient_operator(make: Callable[..., OperatorProcess], peers: Peers, policy: dict[str, Any]) -> OperatorProcess:
    """An operator with that ambient identity and this tenant policy, started."""
    process = make(PAYLOAD_OPERATOR_TENANT_POLICY=json.dumps(policy), **_ambient_identity(peers))
    process.start()
    return process


def _capturing(namespace: str, peers: Peers) -> list[dict[str, Any]]:
    """Resources without credentials whose storage endpoint is the tenant's own listener."""
    lifecycle = {"tmpPrefixes": ["tmp/"], "expirationDays": 1}
    common: dict[str, Any] = {"url": "http://127.0.0.1:9", "dw_namespaces": ["orders"], "lifecycle": lifecycle}
    return [
        eps(namespace, "borrow-gcs", driver="gcs", gcs={"bucket": "victim", "endpoint": peers.gcs_url}, **common),
        eps(
            namespace,
            "borrow-azure",
            driver="azure",
            azure={"container": "victim", "accountUrl": f"{peers.azure_url}/account"},
            **common,
        ),
    ]


ALLOWING = {"ambientCredentialsNamespaces": ["*"], "endpoints": [{"hosts": ["127.0.0.1"], "ambientCredentials": True}]}
"""An admin who lets every namespace use the operator's identity on loopback: what every install did before."""


@pytest.mark.parametrize(("policy", "lent"), [({}, False), (ALLOWING, True)], ids=["admin defaults", "admin allows"])
def test_the_lifecycle_pass_lends_the_ambient_token_only_where_the_admin_allows(
    peers: Peers, policy: dict[str, Any], lent: bool
) -> None:
    """The lifecycle pass alone, without a cluster: the code path that sent the token in issue 14."""
    document = json.dumps({"policy": policy, "bodies": _capturing("tenant", peers)})
    done = subprocess.run(
        [sys.executable, "-m", "tests.drills.tenancy_probe", document],
        env=os.environ | _ambient_identity(peers),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reasons = {line["name"]: line["reason"] for line in map(json.loads, done.stdout.splitlines())}
    if lent:
        assert peers.gcs.carrying(AMBIENT_TOKEN), peers.gcs.requests
        assert peers.azure.carrying(AMBIENT_TOKEN), peers.azure.requests
    else:
        assert reasons == {"borrow-gcs": DENIED, "borrow-azure": DENIED}
        assert (peers.identity.count(), peers.gcs.count(), peers.azure.count()) == (0, 0, 0)


@dataclass
class Drill:
    """What each attack needs: the cluster, fresh namespaces, an operator to configure, the peers."""

    cluster: Cluster
    namespaces: Callable[[str], str]
    operator_with: Callable[..., OperatorProcess]
    peers: Peers


@pytest.fixture
def drill(
    drill_cluster: Cluster,
    namespaces: Callable[[str], str],
    operator_with: Callable[..., OperatorProcess],
    peers: Peers,
) -> Drill:
    return Drill(drill_cluster, namespaces, operator_with, peers)


def test_the_operators_ambient_token_never_reaches_a_tenant_host(drill: Drill) -> None:
    drill_cluster, namespaces, operator_with, peers = drill.cluster, drill.namespaces, drill.operator_with, drill.peers
    tenant = namespaces("tenant")
    operator = _ambient_operator(operator_with, peers, SERVER_ONLY)
    apply(edit_tenant(drill_cluster, tenant), token_secret(tenant), *_capturing(tenant, peers))
    bodies = wait_all(drill_cluster, tenant, ["borrow-gcs", "borrow-azure"], "PolicySynced", "False", DENIED)
    for name, body in bodies.items():
        message = condition(body, "PolicySynced")["message"]
        assert "tenantPolicy.ambientCredentialsNamespaces" in message, (name, message)
        assert "tenantPolicy.endpoints" in message, (name, message)
        assert "docs/security.md" in message
        assert condition(body, "Ready")["status"] == "False"
    # A whole second reconcile later still nothing: not minted, not sent, not even a connection.
    for name in bodies:
        patch_spec(drill_cluster, tenant, name, {"thresholdBytes": 8192})
    again = wait_all(drill_cluster, tenant, bodies, "PolicySynced", "False", DENIED)
    assert {b["metadata"]["generation"] for b in again.values()} == {2}
    assert (peers.identity.count(), peers.gcs.count(), peers.azure.count()) == (0, 0, 0)
    operator.assert_up()
    operator.stop()

    # The proof that the attack is real: where the admin allows it, the same resources do send the token.
    victim = namespaces("victim")
    allowed = _ambient_operator(operator_with, peers, ALLOWING)
    apply(edit_tenant(drill_cluster, victim), token_secret(victim), *_capturing(victim, peers))
    wait_for(lambda: bool(peers.gcs.carrying(AMBIENT_TOKEN)), 60, message="the GCS token at the tenant's listener")
    wait_for(lambda: bool(peers.azure.carrying(AMBIENT_TOKEN)), 60, message="the Azure token at the tenant's listener")
    allowed.assert_up()


HOST_PATHS = ["/etc", "/var/run", "/var/lib/kubelet", "/root"]


def test_host_paths_starving_runners_and_borrowed_identities_are_refused_and_nothing_is_called(drill: Drill) -> None:
    drill_cluster, peers = drill.cluster, drill.peers
    tenant = drill.namespaces("tenant")
    operator = drill.operator_with(PAYLOAD_OPERATOR_TENANT_POLICY=json.dumps(SERVER_ONLY))
    operator.start()
    common: dict[str, Any] = {"url": peers.server_url, "dw_namespaces": ["orders"]}
    public_s3 = {"bucket": "dw-payloads", "credentialsSecretRef": {"name": "dw-s3"}}
    cases = {
        **{
            f"host{n}": (eps(tenant, f"host{n}", local_root=Path(p), **common), "localRoots")
            for n, p in enumerate(HOST_PATHS)
        },
        "starve": (
            eps(
                tenant,
                "starve",
                driver="s3",
                s3=public_s3,
                runner={"type": "InProcess"},
                integrity={"schedule": "* * * * *", "concurrency": 256},
                **common,
            ),
            "inProcessNamespaces",
        ),
        "ambient": (eps(tenant, "ambient", driver="s3", s3={"bucket": "dw-payloads"}, **common), "ambientCredentials"),
    }
    manifests = (manifest for manifest, _ in cases.values())
    apply(edit_tenant(drill_cluster, tenant), token_secret(tenant), s3_secret(tenant), *manifests)
    bodies = wait_all(drill_cluster, tenant, cases, "PolicySynced", "False", DENIED)
    for name, (_, setting) in cases.items():
        message = condition(bodies[name], "PolicySynced")["message"]
        assert f"tenantPolicy.{setting}" in message, (name, message)
    assert "tenantPolicy.maxConcurrency" in condition(bodies["starve"], "PolicySynced")["message"]
    # the schedule is due within a minute; the run is recorded as refused, never started
    starved = wait_all(drill_cluster, tenant, ["starve"], "IntegrityVerified", "False", DENIED, 130)["starve"]
    assert starved["status"]["integrity"].get("activeRun") is None, starved["status"]["integrity"]
    assert peers.server.count() == 0, peers.server.requests
    jobs = drill_cluster.api("GET", f"/apis/batch/v1/namespaces/{tenant}/jobs")["items"]
    assert jobs == []
    operator.assert_up()
    assert_no_secrets(gather(drill_cluster, [tenant], operator.log), SECRETS)


def test_a_lifecycle_rule_over_another_resources_root_is_refused_and_the_bucket_keeps_no_rule(
    drill_cluster: Cluster,
    namespaces: Callable[[str], str],
    operator: OperatorProcess,
    dw_server: Callable[..., EmulatedServer],
    moto_s3: S3Endpoint,
) -> None:
    """The second tenant's rule for "namespaces/orders/" would expire the first tenant's payloads."""
    bucket = s3_bucket(moto_s3)
    server = dw_server(["orders"])
    block = {
        "bucket": bucket.name,
        "endpoint": moto_s3.url,
        "forcePathStyle": True,
        "credentialsSecretRef": {"name": "dw-s3"},
    }
    owner, attacker = namespaces("owner"), namespaces("attacker")
    common: dict[str, Any] = {"url": server.url, "dw_namespaces": ["orders"], "driver": "s3", "s3": block}
    # created first: the check reads the cluster's resources, whatever rules the bucket holds yet
    apply(
        drill_cluster, token_secret(owner), s3_secret(owner), eps(owner, "orders", prefix="namespaces/orders", **common)
    )
    rule = {"tmpPrefixes": ["orders/", "billing/tmp/"], "expirationDays": 1}
    grab = eps(attacker, "grab", prefix="namespaces", lifecycle=rule, **common)
    apply(edit_tenant(drill_cluster, attacker), token_secret(attacker), s3_secret(attacker), grab)
    body = wait_all(drill_cluster, attacker, ["grab"], "LifecycleSynced", "False", "OverlapsOtherRoot", 60)["grab"]
    message = condition(body, "LifecycleSynced")["message"]
    assert f"ExternalPayloadStorage {owner}/orders" in message, message
    assert "nothing written" in message
    assert _lifecycle_rules(bucket.client, bucket.name) == []
    operator.assert_up()


def _lifecycle_rules(client: Any, bucket: str) -> list[Any]:
    try:
        return list(client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"])
    except client.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
            raise
        return []
