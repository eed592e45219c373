"""The manifests tests, drills, the node suite and benchmarks apply: one builder per kind.

Resources point at a server URL and, for the local driver, a payload root; everything else is a spec
override. Secrets carry the consent label the operator requires (docs/security.md) unless told otherwise.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devkit.values import ADMIN_TOKEN, S3_ACCESS_KEY, S3_SECRET_KEY
from payload_operator.adapters.kube import CONSENT_LABEL
from payload_operator.api.spec import API_GROUP
from payload_operator.api.spec import API_VERSION as API_VERSION_NAME

API_VERSION = f"{API_GROUP}/{API_VERSION_NAME}"


def secret_manifest(namespace: str, name: str, data: Mapping[str, str], *, consent: bool = True) -> dict[str, Any]:
    """A Secret with base64 data, labelled so the operator may read it unless `consent=False`."""
    labels = {CONSENT_LABEL: "true"} if consent else {}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def token_secret(namespace: str, name: str = "dw-admin", token: str = ADMIN_TOKEN) -> dict[str, Any]:
    """The admin-token Secret resources reference by default."""
    return secret_manifest(namespace, name, {"token": token})


def s3_secret(namespace: str, name: str = "dw-s3") -> dict[str, Any]:
    """Static S3 credentials (moto accepts any; these are distinctive for the leak scans)."""
    return secret_manifest(namespace, name, {"accessKeyId": S3_ACCESS_KEY, "secretAccessKey": S3_SECRET_KEY})


def eps_manifest(
    namespace: str,
    name: str,
    *,
    url: str,
    dw_namespaces: Sequence[str] = ("orders", "billing"),
    local_root: Path | None = None,
    resync: int = 10,
    timeout: int = 2,
    **spec: Any,
) -> dict[str, Any]:
    """An ExternalPayloadStorage: the local driver on `local_root` when given, then `spec` overrides."""
    body: dict[str, Any] = {
        "server": {
            "url": url,
            "tokenSecretRef": {"name": "dw-admin"},
            "namespaces": list(dw_namespaces),
            "resyncIntervalSeconds": resync,
            "requestTimeoutSeconds": timeout,
        },
        "thresholdBytes": 4096,
    }
    if local_root is not None:
        body |= {"driver": "local", "local": {"path": str(local_root)}}
    body.update(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalPayloadStorage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }
