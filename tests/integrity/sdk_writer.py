"""Write payloads through the real Durable Workflow SDK and print its references as JSON.

Run by whichever interpreter carries the SDK version under test (``.venv`` has 2.12.0,
``.venv-sdk04`` has 0.4.53), so this file imports only the SDK, the provider client it needs and the
standard library. Reads one JSON job from stdin:

    {"provider": "local" | "s3" | "gcs" | "azure", "target": {...}, "prefix": "...",
     "threshold": 1024, "values": [<any JSON value>, ...]}

and prints {"version": "<sdk version>", "envelopes": [<the SDK's envelope for each value>]}.
Offloading goes through ``serializer.external_storage_envelope`` and the SDK's own driver class.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from typing import Any

from durable_workflow import external_storage, serializer


def driver(provider: str, target: dict[str, Any], prefix: str) -> Any:
    """The SDK driver for a provider, built on the provider's own client as applications do."""
    if provider == "local":
        return external_storage.LocalFilesystemExternalStorage(target["root"])
    if provider == "s3":
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=target["url"],
            aws_access_key_id=target["access_key"],
            aws_secret_access_key=target["secret_key"],
            region_name=target["region"],
            config=Config(s3={"addressing_style": "path"}),
        )
        return external_storage.S3ExternalStorage(client, bucket=target["bucket"], prefix=prefix)
    if provider == "gcs":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(
            project="test-project", credentials=AnonymousCredentials(), client_options={"api_endpoint": target["url"]}
        )
        return external_storage.GCSExternalStorage(client, bucket=target["bucket"], prefix=prefix)
    if provider == "azure":
        from azure.storage.blob import ContainerClient

        container = ContainerClient.from_connection_string(target["connection_string"], target["container"])
        return external_storage.AzureBlobExternalStorage(container, container=target["container"], prefix=prefix)
    raise ValueError(f"unknown provider {provider!r}")


def main() -> None:
    job = json.load(sys.stdin)
    sdk_driver = driver(job["provider"], job["target"], job.get("prefix", ""))
    envelopes = [
        serializer.external_storage_envelope(value, external_storage=sdk_driver, threshold_bytes=job["threshold"])
        for value in job["values"]
    ]
    json.dump({"version": importlib.metadata.version("durable-workflow"), "envelopes": envelopes}, sys.stdout)


if __name__ == "__main__":
    main()
