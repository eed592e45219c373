"""Drill: a tenant points a storage endpoint (admin-listed) at a host answering 300 MiB, to grow the operator.

The provider SDKs read listings, lifecycle configurations, management policies and token answers whole.
Each call below runs in a fresh Python process, as the operator or a Job pod would make it, against a
hostile HTTP peer answering every request with 300 MiB (chunked, so no Content-Length warns the client,
or announced). The call must fail with the operator's storage error (a False condition upstream) and the
process's peak RSS must stay far below one such answer. Before the cap, each grew RSS by the whole answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devkit.arm_emulator.tls import write_self_signed
from devkit.hostile_http import ChunkedHugeReply, HugeReply
from devkit.httpserver import local_http_server

REPO = Path(__file__).resolve().parents[2]
MARGIN_KIB = 100 * 1024  # far below one 300 MiB answer, far above the SDKs' own jitter
CALL_TIMEOUT = 300.0  # a fresh interpreter importing an SDK on a busy 2-core machine

CALL = r"""
import json, resource, sys, time
from azure.core.credentials import AccessToken
from payload_operator.adapters.bucket_rules.azure_arm import AzureArmRules
from payload_operator.adapters.bucket_rules.factory import arm_client, open_rule_store
from payload_operator.adapters.storage.base import StorageError
from payload_operator.adapters.storage.factory import open_store
from payload_operator.api.resource import resource_from_body
from payload_operator.core.secrets import SecretValues

case = json.loads(sys.argv[1])
server = {"url": "https://dw.invalid", "tokenSecretRef": {"name": "t"}, "namespaces": ["orders"]}
body = {"server": server, "driver": case["driver"], case["driver"]: case["block"], "prefix": "dw"}
spec = resource_from_body({"metadata": {"namespace": "team-a", "name": "p", "uid": "u"}, "spec": body}).spec
credentials = None if case["credentials"] is None else SecretValues("Secret team-a/k", case["credentials"])


class Token:
    def get_token(self, *_, **__):
        return AccessToken("arm-token", int(time.time()) + 3600)

    def close(self):
        pass


def call():
    if case["call"] == "probe":
        open_store(spec, credentials).probe()
    elif case["call"] == "rules":
        open_rule_store(spec, credentials).read()
    else:
        policy = spec.azure.management_policy
        AzureArmRules(arm_client(policy, Token()), policy, spec.azure.container).read()


before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    call()
    outcome = {"raised": None}
except StorageError as exc:
    outcome = {"raised": type(exc).__name__, "reason": exc.reason, "message": str(exc)}
outcome |= {"before_kib": before, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
print(json.dumps(outcome))
"""


def _call(case: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CALL, json.dumps(case)],
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(params=[ChunkedHugeReply, HugeReply], ids=["chunked", "announced"])
def hostile(request: pytest.FixtureRequest) -> Iterator[str]:
    with local_http_server(request.param) as url:
        yield url


@pytest.fixture
def hostile_tls(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = write_self_signed(tmp_path)
    with local_http_server(ChunkedHugeReply, tls=(cert, key)) as url:
        yield url, cert


def _assert_capped(outcome: dict[str, Any]) -> None:
    assert outcome["raised"] == "AnswerTooLarge", outcome
    assert outcome["reason"] == "ResponseTooLarge"
    assert "larger than 16777216 bytes" in outcome["message"]
    grown = outcome["peak_kib"] - outcome["before_kib"]
    assert grown < MARGIN_KIB, f"peak RSS grew by {grown >> 10} MiB reading one answer"


S3_KEYS = {"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "hostile-drill-secret"}


@pytest.mark.parametrize("call", ["probe", "rules"])
def test_s3_listing_and_lifecycle_answers_are_capped(hostile: str, call: str) -> None:
    block = {"bucket": "payloads", "endpoint": hostile, "forcePathStyle": True, "credentialsSecretRef": {"name": "k"}}
    _assert_capped(_call({"driver": "s3", "block": block, "credentials": S3_KEYS, "call": call}))


@pytest.mark.parametrize("call", ["probe", "rules"])
def test_gcs_listing_and_bucket_answers_are_capped(hostile: str, call: str) -> None:
    """Anonymous, as on an emulator: the hostile peer is the storage endpoint only (the token case is below)."""
    block = {"bucket": "payloads", "endpoint": hostile}
    case = {"driver": "gcs", "block": block, "credentials": None, "call": call}
    _assert_capped(_call(case, _environment(STORAGE_EMULATOR_HOST=hostile)))


def test_a_gcs_token_endpoint_answer_is_capped(hostile: str) -> None:
    """A service-account key names its own token_uri: the tenant's host answers the token request."""
    block = {"bucket": "payloads", "endpoint": hostile, "credentialsSecretRef": {"name": "k"}}
    case = {"driver": "gcs", "block": block, "credentials": {"service-account.json": _service_account(hostile)}}
    _assert_capped(_call(case | {"call": "probe"}))


def test_azure_listing_answers_are_capped(hostile: str) -> None:
    connection = f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;BlobEndpoint={hostile}/acct;"
    block = {
        "container": "payloads",
        "accountUrl": "https://acct.blob.core.windows.net",
        "credentialsSecretRef": {"name": "k"},
    }
    _assert_capped(
        _call({"driver": "azure", "block": block, "credentials": {"connectionString": connection}, "call": "probe"})
    )


def test_an_azure_management_policy_answer_is_capped(hostile_tls: tuple[str, Path]) -> None:
    url, cert = hostile_tls
    policy = {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "rg", "accountName": "acct"}
    block = {
        "container": "payloads",
        "accountUrl": "https://acct.blob.core.windows.net",
        "credentialsSecretRef": {"name": "k"},
        "managementPolicy": policy | {"endpoint": url},
    }
    env = _environment(REQUESTS_CA_BUNDLE=str(cert))
    _assert_capped(_call({"driver": "azure", "block": block, "credentials": None, "call": "arm"}, env))


def _environment(**extra: str) -> dict[str, str]:
    return dict(os.environ) | extra


def _service_account(token_uri: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "drill",
            "private_key_id": "1",
            "private_key": pem,
            "client_email": "drill@drill.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        }
    )
