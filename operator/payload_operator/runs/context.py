"""Everything a run needs from Kubernetes, read once before it starts: the server token and storage credentials.

Shared by the in-process runner and the Job command, so both read the same Secrets the same way.
"""

from __future__ import annotations

from payload_operator.adapters.kube import KubeClient, KubeError, KubeNotFound
from payload_operator.adapters.tenancy import Admission
from payload_operator.api.spec import CaBundleSource, ExternalPayloadStorageSpec
from payload_operator.manifest import Resource
from payload_operator.runs.base import RunContext, Shard


def credentials_secret(spec: ExternalPayloadStorageSpec) -> str | None:
    """The name of the Secret holding storage credentials, or None for ambient credentials."""
    block = spec.s3 or spec.gcs or spec.azure
    reference = block.credentials_secret_ref if block is not None else None
    return reference.name if reference is not None else None


class CaBundleNotFound(KubeError):
    """The ConfigMap or Secret spec.server.caBundleRef names, or its key, does not exist."""

    reason = "CaBundleNotFound"


async def server_ca_bundle(kube: KubeClient, resource: Resource) -> str | None:
    """The PEM bundle spec.server.caBundleRef names (None without one); CaBundleNotFound when it is missing."""
    ref = resource.spec.server.ca_bundle_ref
    if ref is None:
        return None
    where = f"{ref.kind.value} {resource.namespace}/{ref.name}"
    if ref.kind is CaBundleSource.SECRET:
        bundle: str | None = (await kube.read_secret(resource.namespace, ref.name)).get(ref.key)
    else:
        try:
            configmap = await kube.call("GET", f"/api/v1/namespaces/{resource.namespace}/configmaps/{ref.name}")
        except KubeNotFound:
            raise CaBundleNotFound(f"{where} not found", 404) from None
        bundle = (configmap.get("data") or {}).get(ref.key)
    if not bundle:
        raise CaBundleNotFound(f"{where} has no key {ref.key!r}")
    return bundle


async def resolve_context(
    kube: KubeClient, resource: Resource, shard: Shard, admission: Admission, *, dry_run: bool = False
) -> RunContext:
    """The run context of one shard; KubeError (SecretNotFound, SecretKeyMissing, ...) when a Secret is unusable,
    TenantPolicyDenied when the admin's tenant policy refuses the resource with these credentials."""
    spec = resource.spec
    await admission.check(resource)
    token_ref = spec.server.token_secret_ref
    token = await kube.read_secret_key(resource.namespace, token_ref.name, token_ref.key)
    secret = credentials_secret(spec)
    credentials = await kube.read_secret(resource.namespace, secret) if secret else None
    if credentials is not None:  # a connection string or service-account key names endpoints of its own
        await admission.check(resource, credentials)
    ca_bundle = await server_ca_bundle(kube, resource)
    return RunContext(resource, token, credentials, shard, dry_run=dry_run, server_ca=ca_bundle)
