"""The S3 read signer: the same signature botocore computes, endpoint and region read off botocore's own
presigned URL (servers that check signatures are covered by the RGW rows of test_contract)."""

from __future__ import annotations

import calendar
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from payload_operator.adapters.storage.sigv4 import PROBE_KEY, Endpoint, GetSigner

NOON = calendar.timegm((2026, 11, 21, 12, 0, 0))
NEXT_DAY = NOON + 86_400


def botocore_signature(request_headers: dict[str, str], url: str, credentials: Credentials, region: str) -> str:
    """botocore's SigV4 signature over exactly these headers (its canonicalisation, its key derivation)."""
    request = AWSRequest(
        method="GET", url=url, headers={k: v for k, v in request_headers.items() if k not in ("host", "authorization")}
    )
    request.context["timestamp"] = request_headers["x-amz-date"]
    auth = S3SigV4Auth(credentials, "s3", region)
    return str(auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request))


def client(**kwargs: Any) -> Any:
    return boto3.client(
        "s3",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        **kwargs,
    )


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzE//session+token="])
@pytest.mark.parametrize("key", ["avro/ab/" + "ab" * 32 + ".avro", "p/with space+plus", "p/ünï~%/ключ"])
@pytest.mark.parametrize("when", [NOON, NEXT_DAY])
def test_the_signature_is_botocores(token: str | None, key: str, when: float) -> None:
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    endpoint = Endpoint(
        "https://payloads.s3.eu-central-1.amazonaws.com", "payloads.s3.eu-central-1.amazonaws.com", "/", "eu-central-1"
    )
    signer = GetSigner(endpoint, credentials)
    signer.headers(signer.path("warm/the/key/cache"), now=NOON)  # the next day must derive a new key

    path = signer.path(key)
    headers = signer.headers(path, now=when)

    expected = botocore_signature(headers, endpoint.origin + path, credentials, "eu-central-1")
    assert headers["authorization"].endswith(f"Signature={expected}")
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert ("x-amz-security-token" in headers) == (token is not None)
    assert "wJalrXUtnFEMI" not in repr(headers)


def test_path_style_endpoint_keeps_the_bucket_in_the_path() -> None:
    s3 = client(
        endpoint_url="http://127.0.0.1:9000", config=Config(signature_version="s3v4", s3={"addressing_style": "path"})
    )
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "payloads", "Key": PROBE_KEY})

    endpoint = Endpoint.from_presigned_url(url)

    assert endpoint == Endpoint("http://127.0.0.1:9000", "127.0.0.1:9000", "/payloads/", "us-east-1")


def test_virtual_hosted_endpoint_has_the_bucket_in_the_host_and_the_clients_region() -> None:
    s3 = client(region_name="eu-central-1", config=Config(signature_version="s3v4"))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "payloads", "Key": PROBE_KEY})

    endpoint = Endpoint.from_presigned_url(url)

    assert endpoint.host.startswith("payloads.")
    assert (endpoint.base_path, endpoint.region) == ("/", "eu-central-1")


def test_a_sigv2_url_is_refused() -> None:
    s3 = client(region_name="us-east-1", config=Config(signature_version="s3"))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "payloads", "Key": PROBE_KEY})

    with pytest.raises(ValueError, match="SigV4"):
        Endpoint.from_presigned_url(url)
