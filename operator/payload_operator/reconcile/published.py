"""The objects the operator publishes for each resource: server env Secret and worker policy ConfigMap.

Both are owned by the resource (garbage-collected with it) and rewritten only when they differ; a
same-named object someone else owns is never touched (ObjectNotOwned). Each carries a hash of its data in
CONTENT_HASH_ANNOTATION, so a rollout can key on it (docs/wiring.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
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
from payload_operator.api.status import PublishedStatus
from payload_operator.planning.policy import server_env, worker_policy_document

POLICY_KEY = "policy.json"
CONTENT_HASH_ANNOTATION = f"{API_GROUP}/content-hash"
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


def content_hash(data: Mapping[str, str]) -> str:
    """A short sha256 of an object's data (keys sorted): equal data, equal hash, across operator restarts."""
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()[:16]


def _metadata(resource: Resource, body: dict[str, Any], name: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": resource.namespace,
        "labels": labels(resource),
        "annotations": {CONTENT_HASH_ANNOTATION: content_hash(data)},
        "ownerReferences": [owner_reference(body)],
    }


def server_env_secret_name(resource: Resource) -> str:
    """`<name>-server-env`."""
    return f"{resource.name}-server-env"


def policy_configmap_name(resource: Resource) -> str:
    """`<name>-policy`."""
    return f"{resource.name}-policy"


async def publish(kube: KubeClient, resource: Resource, body: dict[str, Any]) -> PublishedStatus:
    """Write the worker policy ConfigMap and, for S3, the server env Secret; their content hashes."""
    spec = resource.spec
    policy = {POLICY_KEY: worker_policy_document(spec)}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(resource, body, policy_configmap_name(resource), policy),
        "data": policy,
    }
    await kube.apply_owned(configmap)
    policy_hash = content_hash(policy)
    if spec.driver != Driver.S3 or spec.s3 is None:
        # the driver is immutable, so a non-S3 resource never had a server env Secret
        return PublishedStatus(content_hash=content_hash({"policy": policy_hash}), policy_hash=policy_hash)
    credentials: dict[str, str] = {}
    if spec.s3.credentials_secret_ref is not None:
        credentials = dict(await kube.read_secret(resource.namespace, spec.s3.credentials_secret_ref.name))
    env = server_env(spec, credentials)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(resource, body, server_env_secret_name(resource), env),
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(env.items())},
    }
    await kube.apply_owned(secret)
    env_hash = content_hash(env)
    both = content_hash({"policy": policy_hash, "serverEnv": env_hash})
    return PublishedStatus(content_hash=both, policy_hash=policy_hash, server_env_hash=env_hash)
