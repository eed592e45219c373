"""The objects the operator publishes for each resource: server env Secret and worker policy ConfigMap.

Both are owned by the resource (garbage-collected with it) and rewritten only when they differ; a
same-named object someone else owns is never touched (ObjectNotOwned).
"""

from __future__ import annotations

import base64
from typing import Any

from payload_operator.adapters.kube import (
    KubeClient,
    KubeError,
    ObjectNotOwned,
    SecretNotConsented,
    SecretValueNotText,
)
from payload_operator.api.resource import Resource
from payload_operator.api.spec import API_GROUP, API_VERSION, KIND, Driver
from payload_operator.planning.policy import server_env, worker_policy_document

POLICY_KEY = "policy.json"
_OWN_REASONS = (ObjectNotOwned, SecretNotConsented, SecretValueNotText)


def failure_reason(error: KubeError) -> str:
    """The condition reason of a failed publish: the user-fixable causes keep their own word."""
    return error.reason if isinstance(error, _OWN_REASONS) else "PublishFailed"


def owner_reference(body: dict[str, Any]) -> dict[str, Any]:
    """A controller owner reference to the resource."""
    meta = body["metadata"]
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def labels(resource: Resource) -> dict[str, str]:
    """Labels that tie published objects to their resource."""
    return {
        "app.kubernetes.io/managed-by": "payload-operator",
        f"{API_GROUP}/owner": resource.name,
    }


def _metadata(resource: Resource, body: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": resource.namespace,
        "labels": labels(resource),
        "ownerReferences": [owner_reference(body)],
    }


def server_env_secret_name(resource: Resource) -> str:
    """`<name>-server-env`."""
    return f"{resource.name}-server-env"


def policy_configmap_name(resource: Resource) -> str:
    """`<name>-policy`."""
    return f"{resource.name}-policy"


async def publish(kube: KubeClient, resource: Resource, body: dict[str, Any]) -> None:
    """Write the worker policy ConfigMap and, for S3, the server env Secret."""
    spec = resource.spec
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(resource, body, policy_configmap_name(resource)),
        "data": {POLICY_KEY: worker_policy_document(spec)},
    }
    await kube.apply_owned(configmap)
    if spec.driver != Driver.S3 or spec.s3 is None:
        return  # the driver is immutable, so a non-S3 resource never had a server env Secret
    credentials: dict[str, str] = {}
    if spec.s3.credentials_secret_ref is not None:
        credentials = dict(await kube.read_secret(resource.namespace, spec.s3.credentials_secret_ref.name))
    env = server_env(spec, credentials)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(resource, body, server_env_secret_name(resource)),
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(env.items())},
    }
    await kube.apply_owned(secret)
