"""The admin's tenant policy end to end without a cluster: where it comes from (Helm values, environment),
what it allows, names resolved for real, the Jobs it is handed to; and the server inputs: paths sent to
it, a private CA trusted through the resource's CA bundle, and status strings that no answer can grow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, cast

import pytest
from devkit.arm_emulator.tls import write_self_signed
from devkit.httpserver import local_http_server, send_json
from pydantic import ValidationError

from payload_operator.adapters.kube import KubeClient, KubeNotFound
from payload_operator.adapters.run_context import CaBundleNotFound, server_ca_bundle
from payload_operator.adapters.server import InvalidCaBundle, ServerClient, ServerUnreachable, segment
from payload_operator.adapters.tenancy import Admission, TenantPolicyDenied, admission_for
from payload_operator.api.crd import crd_manifest
from payload_operator.api.resource import Resource, resource_from_body
from payload_operator.api.status import STRING_MAX
from payload_operator.core.config import OperatorConfig
from payload_operator.core.run_context import Shard
from payload_operator.planning.status_change import StatusChange
from payload_operator.planning.tenancy import DENIED, EndpointUse, TenantPolicy, is_public
from payload_operator.scheduler import job_manifest as jobs
from tests.ship.chart import operator_container, render
from tests.support.status import apply_as_kopf

SERVER = {"url": "https://dw.team-a.svc", "tokenSecretRef": {"name": "dw-admin"}, "namespaces": ["orders"]}


def resource(namespace: str = "team-a", **spec: Any) -> Resource:
    body = {"server": SERVER, "driver": "s3", "s3": {"bucket": "dw-payloads", "credentialsSecretRef": {"name": "k"}}}
    return resource_from_body({"metadata": {"namespace": namespace, "name": "p", "uid": "u"}, "spec": body | spec})


def judge(admission: Admission, res: Resource, credentials: dict[str, str] | None = None) -> list[str]:
    return [v.setting for v in asyncio.run(admission.violations(res, credentials))]


def test_helm_values_reach_the_operator_as_its_tenant_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "tenantPolicy": {
            "ambientCredentialsNamespaces": ["team-a"],
            "endpoints": [{"hosts": ["minio.storage.svc:9000"], "uses": ["s3"], "namespaces": ["team-a"]}],
            "localRoots": [{"path": "/srv/payloads"}],
            "inProcessNamespaces": ["dev"],
            "maxConcurrency": 8,
        }
    }
    env = {e["name"]: e.get("value") for e in operator_container(render(values))["env"]}
    assert env["PAYLOAD_OPERATOR_NAMESPACE"] == "payload-system"  # the release namespace
    for name in ("PAYLOAD_OPERATOR_NAMESPACE", "PAYLOAD_OPERATOR_TENANT_POLICY"):
        monkeypatch.setenv(name, str(env[name]))
    config = OperatorConfig()
    assert config.namespace == "payload-system"
    assert config.tenant_policy == TenantPolicy.model_validate(values["tenantPolicy"])
    assert config.tenant_policy.endpoints[0].uses == [EndpointUse.S3]


def test_the_chart_default_is_the_operators_default() -> None:
    env = {e["name"]: e.get("value") for e in operator_container(render({}))["env"]}
    assert TenantPolicy.model_validate(json.loads(str(env["PAYLOAD_OPERATOR_TENANT_POLICY"]))) == TenantPolicy()


def test_a_job_judges_with_the_operators_policy_not_its_own_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Job runs in the tenant's namespace: it must not mistake that for the operator's own."""
    config = OperatorConfig(namespace="payload-operator", tenant_policy=TenantPolicy(max_shards=2))
    job = jobs.job_manifest(resource(), {}, "integrity", "20260302-000000", Shard(0, 1), image="i", service_account="s")
    assert "PAYLOAD_OPERATOR_TENANT_POLICY" not in {
        e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    job = jobs.job_manifest(
        resource(), {}, "integrity", "r", Shard(0, 1), image="i", service_account="s", env=config.tenant_environment()
    )
    for item in job["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in item:  # the downward-API ones are the kubelet's to fill
            monkeypatch.setenv(item["name"], item["value"])
    assert OperatorConfig().tenant_policy == config.tenant_policy
    assert OperatorConfig().namespace == "payload-operator"


def test_ambient_credentials_are_the_operators_own_namespace_by_default() -> None:
    admission = admission_for(OperatorConfig(namespace="payload-operator"))
    ambient = {"s3": {"bucket": "dw-payloads"}}
    assert judge(admission, resource("payload-operator", **ambient)) == []
    assert judge(admission, resource("team-a", **ambient)) == ["ambientCredentialsNamespaces"]
    everywhere = Admission(TenantPolicy(ambient_credentials_namespaces=["*"]))
    assert judge(everywhere, resource("team-a", **ambient)) == []


def test_a_name_is_judged_by_where_it_resolves() -> None:
    """`localhost` is spelled like any host; it resolves to loopback, which only a listed name may use."""
    admission = Admission(TenantPolicy())
    assert judge(admission, resource(server=SERVER | {"url": "http://localhost:8080"})) == ["endpoints"]
    listed = Admission(TenantPolicy.model_validate({"endpoints": [{"hosts": ["localhost"], "uses": ["server"]}]}))
    assert judge(listed, resource(server=SERVER | {"url": "http://localhost:8080"})) == []


def test_the_api_server_is_refused_as_a_server_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    admission = admission_for(OperatorConfig())
    assert judge(admission, resource(server=SERVER | {"url": "https://10.96.0.1:443"})) == ["endpoints"]
    assert judge(admission, resource(server=SERVER | {"url": "https://10.96.0.2:443"})) == []


def test_a_listed_s3_compatible_store_is_allowed_only_where_listed() -> None:
    policy = {"endpoints": [{"hosts": ["10.0.0.0/8"], "uses": ["s3"], "namespaces": ["team-a"]}]}
    admission = Admission(TenantPolicy.model_validate(policy))
    store = {"s3": {"bucket": "dw-payloads", "endpoint": "http://10.1.2.3:9000", "credentialsSecretRef": {"name": "k"}}}
    assert judge(admission, resource("team-a", **store)) == []
    assert judge(admission, resource("team-b", **store)) == ["endpoints"]


def test_https_can_be_required_for_some_hosts_only() -> None:
    """One grant requires https for its store, another admits http for an emulator; the global switch is off."""
    policy = {
        "endpoints": [
            {"hosts": ["10.1.0.0/16"], "uses": ["s3"], "requireHttps": True},
            {"hosts": ["10.2.0.0/16"], "uses": ["s3"]},
        ]
    }
    admission = Admission(TenantPolicy.model_validate(policy))

    def store(url: str) -> Resource:
        return resource(s3={"bucket": "dw-payloads", "endpoint": url, "credentialsSecretRef": {"name": "k"}})

    assert judge(admission, store("https://10.1.2.3:9000")) == []
    assert judge(admission, store("http://10.1.2.3:9000")) == ["endpoints[].requireHttps"]
    assert judge(admission, store("http://10.2.2.3:9000")) == []
    strict = Admission(TenantPolicy.model_validate(policy | {"requireHttps": True}))
    assert judge(strict, store("http://10.2.2.3:9000")) == ["requireHttps"]


def test_the_credentials_secret_is_judged_too() -> None:
    """A connection string names its own endpoint: the account key would go there."""
    admission = Admission(TenantPolicy())
    azure = {"container": "payloads", "accountUrl": "https://acct.blob.core.windows.net"}
    res = resource(driver="azure", s3=None, azure=azure | {"credentialsSecretRef": {"name": "az"}})
    good = {"connectionString": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=k3y"}
    assert judge(admission, res, good) == []
    bad = {"connectionString": "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;AccountKey=k3y"}
    with pytest.raises(TenantPolicyDenied) as denied:
        asyncio.run(admission.check(res, bad))
    assert denied.value.reason == DENIED
    assert "BlobEndpoint of the Secret's connectionString" in str(denied.value)
    assert "k3y" not in str(denied.value)


@pytest.mark.parametrize(
    ("use", "url", "public"),
    [
        (EndpointUse.S3, "https://s3.eu-west-1.amazonaws.com", True),
        (EndpointUse.S3, "https://bucket.s3.amazonaws.com", True),
        (EndpointUse.S3, "http://s3.amazonaws.com", False),
        (EndpointUse.S3, "https://amazonaws.com.evil.example", False),
        (EndpointUse.GCS, "https://storage.googleapis.com", True),
        (EndpointUse.GCS, "https://s3.amazonaws.com", False),
        (EndpointUse.AZURE, "https://acct.blob.core.windows.net", True),
        (EndpointUse.AZURE, "https://management.azure.com", True),
        (EndpointUse.AZURE, "https://storage.googleapis.com", False),
        (EndpointUse.SERVER, "https://dw.example", False),
    ],
)
def test_each_providers_public_endpoints_are_its_own(use: EndpointUse, url: str, public: bool) -> None:
    assert is_public(use, url) is public


@pytest.mark.parametrize(
    ("name", "sent"),
    [("orders", "orders"), ("..", "%2E%2E"), (".", "%2E"), ("a/b", "a%2Fb"), ("x?y#z", "x%3Fy%23z"), ("é", "%C3%A9")],
)
def test_every_path_segment_sent_to_the_server_is_encoded_whole(name: str, sent: str) -> None:
    assert segment(name) == sent


class _Info(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"generation": "A"}'
        send_json(self, body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def private_ca_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An https server whose certificate only its own CA vouches for; yields (url, the CA's PEM)."""
    cert, key = write_self_signed(tmp_path)
    with local_http_server(_Info, (cert, key)) as url:
        yield url, cert.read_text()


class _ConfigMaps:
    def __init__(self, data: dict[str, dict[str, str]]) -> None:
        self.data = data

    async def call(self, method: str, path: str) -> dict[str, Any]:
        name = path.rsplit("/", 1)[1]
        if name not in self.data:
            raise KubeNotFound(f"{method} {path}: HTTP 404", 404)
        return {"data": self.data[name]}


def test_a_server_with_a_private_ca_is_trusted_through_its_ca_bundle(private_ca_server: tuple[str, str]) -> None:
    url, pem = private_ca_server
    ref = {"caBundleRef": {"name": "dw-ca"}}
    res = resource(server=SERVER | {"url": url, **ref})
    kube = cast(KubeClient, _ConfigMaps({"dw-ca": {"ca.crt": pem}}))
    bundle = asyncio.run(server_ca_bundle(kube, res))

    async def info(ca_bundle: str | None) -> dict[str, Any]:
        async with ServerClient.for_server(res.spec.server, "adm-token-1234", ca_bundle) as client:
            return await client.cluster_info("orders")

    assert asyncio.run(info(bundle)) == {"generation": "A"}
    with pytest.raises(ServerUnreachable):
        asyncio.run(info(None))  # the system's CAs do not vouch for it
    with pytest.raises(InvalidCaBundle, match="caBundleRef"):
        ServerClient.for_server(res.spec.server, "t", "-----BEGIN CERTIFICATE-----\nnot base64\n")
    missing = resource(server=SERVER | {"caBundleRef": {"name": "dw-ca", "key": "other.crt"}})
    with pytest.raises(CaBundleNotFound, match=r"has no key 'other\.crt'"):
        asyncio.run(server_ca_bundle(kube, missing))
    gone = resource(server=SERVER | {"caBundleRef": {"name": "elsewhere"}})
    with pytest.raises(CaBundleNotFound, match="not found"):
        asyncio.run(server_ca_bundle(kube, gone))


def _strings(node: Any, path: str = "status") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "string":
            yield path, node
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")


def test_every_status_string_is_bounded_in_the_crd_and_before_it_is_written() -> None:
    status = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    unbounded = [path for path, node in _strings(status) if "maxLength" not in node and "enum" not in node]
    assert unbounded == []
    body: dict[str, Any] = {"metadata": {"namespace": "team-a", "name": "p", "generation": 1}, "spec": {}}
    hostile = "unavailable-" * 100_000
    entry = {"name": "orders", "storageStatus": hostile, "message": hostile}
    fields = {"namespaces": [entry], "integrity": {"lastResult": {hostile: [hostile]}}}
    apply_as_kopf(StatusChange(generation=1, fields=fields), body)
    written = json.dumps(body["status"])
    assert len(written) < 8 * STRING_MAX, len(written)
    assert body["status"]["namespaces"][0]["storageStatus"] == hostile[:STRING_MAX]


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "minio:port", "[::1]:x", "10.0.0.1/8/2"])
def test_an_endpoint_listing_with_a_typo_stops_the_operator_at_start(
    entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYLOAD_OPERATOR_TENANT_POLICY", json.dumps({"endpoints": [{"hosts": [entry]}]}))
    with pytest.raises(ValidationError, match="endpoints"):
        OperatorConfig()
