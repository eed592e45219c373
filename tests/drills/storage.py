"""Storage benches for the drills: a fresh bucket on a real storage server, seen directly (never through
the proxy or the code under test), plus the spec block that points the operator at it through a proxy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from devkit.naming import unique_name
from devkit.services import AzuriteEndpoint, GcsEndpoint, S3Endpoint

PREFIX = "dw"
S3_SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


def payload_key(data: bytes, prefix: str = PREFIX) -> str:
    sha = hashlib.sha256(data).hexdigest()
    return f"{prefix}/avro/{sha[:2]}/{sha}"


@dataclass
class Bucket:
    """A bucket (container) on one provider; `keys()` and `read()` bypass proxy and operator."""

    provider: str
    name: str
    client: Any
    written: dict[str, bytes] = field(default_factory=dict)

    def put(self, key: str, data: bytes) -> None:
        if self.provider == "s3":
            self.client.put_object(Bucket=self.name, Key=key, Body=data)
        elif self.provider == "gcs":
            self.client.bucket(self.name).blob(key).upload_from_string(data)
        else:
            self.client.get_container_client(self.name).upload_blob(key, data, overwrite=True)
        self.written[key] = data

    def keys(self) -> set[str]:
        if self.provider == "s3":
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
            return {item["Key"] for page in pages for item in page.get("Contents", ())}
        if self.provider == "gcs":
            return {blob.name for blob in self.client.list_blobs(self.name)}
        return {blob.name for blob in self.client.get_container_client(self.name).list_blobs()}

    def read(self, key: str) -> bytes:
        if self.provider == "s3":
            body: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
            return body
        if self.provider == "gcs":
            data: bytes = self.client.bucket(self.name).blob(key).download_as_bytes()
            return data
        blob: bytes = self.client.get_container_client(self.name).download_blob(key).readall()
        return blob

    def intact(self, keys: Iterable[str]) -> list[str]:
        """Which of `keys` are missing or changed since this bench wrote them."""
        present = self.keys()
        return [k for k in keys if k not in present or self.read(k) != self.written[k]]

    def uri(self, key: str) -> str:
        """The URI the Durable Workflow server would put in a reference (contract §3 spellings)."""
        scheme = {"s3": "s3", "gcs": "gs", "azure": "azure"}[self.provider]
        return f"{scheme}://{self.name}/{key}"


def s3_bucket(endpoint: S3Endpoint) -> Bucket:
    client = endpoint.client()
    name = unique_name("drill")
    client.create_bucket(Bucket=name)
    return Bucket("s3", name, client)


def gcs_bucket(endpoint: GcsEndpoint) -> Bucket:
    client = endpoint.client()
    name = unique_name("drill")
    client.create_bucket(name)
    return Bucket("gcs", name, client)


def azure_container(endpoint: AzuriteEndpoint) -> Bucket:
    client = endpoint.client()
    name = unique_name("drill")
    client.create_container(name)
    return Bucket("azure", name, client)


def azure_connection_string(endpoint: AzuriteEndpoint, proxy_url: str) -> str:
    """Azurite's connection string with BlobEndpoint moved to the proxy."""
    parts = [p for p in endpoint.connection_string.split(";") if p and not p.startswith("BlobEndpoint=")]
    return ";".join([*parts, f"BlobEndpoint={proxy_url}/{endpoint.account_name}"]) + ";"


def spec_block(bucket: Bucket, proxy_url: str, *, account_url: str = "") -> dict[str, Any]:
    """`driver` and the provider block pointing at `proxy_url` (credentials Secrets: dw-s3, dw-azure)."""
    if bucket.provider == "s3":
        block = {
            "bucket": bucket.name,
            "endpoint": proxy_url,
            "forcePathStyle": True,
            "credentialsSecretRef": {"name": "dw-s3"},
        }
        return {"driver": "s3", "s3": block}
    if bucket.provider == "gcs":
        return {"driver": "gcs", "gcs": {"bucket": bucket.name, "endpoint": proxy_url}}
    block = {"container": bucket.name, "accountUrl": account_url, "credentialsSecretRef": {"name": "dw-azure"}}
    return {"driver": "azure", "azure": block}


def s3_rules(bucket: Bucket) -> list[dict[str, Any]]:
    try:
        return list(bucket.client.get_bucket_lifecycle_configuration(Bucket=bucket.name)["Rules"])
    except bucket.client.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
            return []
        raise


def gcs_rules(bucket: Bucket) -> list[dict[str, Any]]:
    return [dict(rule) for rule in bucket.client.get_bucket(bucket.name).lifecycle_rules]


def rules(bucket: Bucket) -> list[dict[str, Any]]:
    return s3_rules(bucket) if bucket.provider == "s3" else gcs_rules(bucket)


def put_rules(bucket: Bucket, seed: list[dict[str, Any]]) -> None:
    if bucket.provider == "s3":
        bucket.client.put_bucket_lifecycle_configuration(Bucket=bucket.name, LifecycleConfiguration={"Rules": seed})
    else:
        loaded = bucket.client.get_bucket(bucket.name)
        loaded.lifecycle_rules = seed
        loaded.patch()


FOREIGN_RULES: dict[str, list[dict[str, Any]]] = {
    "s3": [
        {"Expiration": {"Days": 10}, "Prefix": "cirrus/tmp/", "Status": "Enabled"},
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 7}},
        {
            "ID": "tagged",
            "Filter": {"And": {"Prefix": "x/", "Tags": [{"Key": "team", "Value": "data"}]}},
            "Status": "Disabled",
            "Expiration": {"Days": 3},
        },
    ],
    "gcs": [
        {"action": {"type": "Delete"}, "condition": {"age": 30, "matchesPrefix": ["logs/"]}},
        {"action": {"type": "SetStorageClass", "storageClass": "NEARLINE"}, "condition": {"age": 30}},
        {"action": {"type": "Delete"}, "condition": {"age": 2, "matchesSuffix": [".part"]}},
    ],
}


def is_ours(provider: str, rule: dict[str, Any]) -> bool:
    if provider == "s3":
        return str(rule.get("ID", "")).startswith("eps-")
    prefixes = rule.get("condition", {}).get("matchesPrefix", [])
    return len(prefixes) == 1 and prefixes[0].startswith(f"{PREFIX}/")


def owned_days(bucket: Bucket) -> list[int]:
    """Expiration days of our rules on the bucket."""
    found = []
    for rule in rules(bucket):
        if is_ours(bucket.provider, rule):
            found.append(int(rule["Expiration"]["Days"] if bucket.provider == "s3" else rule["condition"]["age"]))
    return found


def foreign(bucket: Bucket) -> list[str]:
    """The bucket's foreign rules as canonical JSON texts (equal exactly when byte-for-byte equal)."""
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rules(bucket) if not is_ours(bucket.provider, r))


def seeded_foreign(provider: str) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in FOREIGN_RULES[provider])
