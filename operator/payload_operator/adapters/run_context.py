"""Everything a run needs from Kubernetes, read once before it starts: the server token and storage credentials.

Shared by the in-process runner and the Job command, so both read the same Secrets the same way.
"""

from __future__ import annotations

from payload_operator.adapters.kube import KubeClient, KubeError, KubeNotFound
from payload_operator.adapters.tenancy import Admission
from payload_operator.api.resource import Resource
from payload_operator.api.spec import CaBundleSource, ExternalPayloadStorageSpec
from payload_operator.core.run_context import RunContext, Shard
from payload_operator.core.secrets import SecretValues


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


async def admitted_credentials(kube: KubeClient, resource: Resource, admission: Admission) -> SecretValues | None:
    """The storage credentials (None: ambient), read only once the tenant policy allows the spec, and judged
    again with them (a connection string or service-account key names endpoints of its own)."""
    await admission.check(resource)
    secret = credentials_secret(resource.spec)
    if secret is None:
        return None
    credentials = await kube.read_secret(resource.namespace, secret)
    await admission.check(resource, credentials)
    return credentials


async def resolve_context(
    kube: KubeClient, resource: Resource, shard: Shard, admission: Admission, *, dry_run: bool = False
) -> RunContext:
    """The run context of one shard; KubeError (SecretNotFound, SecretKeyMissing, ...) when a Secret is unusable,
    TenantPolicyDenied when the admin's tenant policy refuses the resource with these credentials."""
    credentials = await admitted_credentials(kube, resource, admission)
    token_ref = resource.spec.server.token_secret_ref
    token = await kube.read_secret_key(resource.namespace, token_ref.name, token_ref.key)
    ca_bundle = await server_ca_bundle(kube, resource)
    peer_check = await admission.server_peer_check(resource)
    return RunContext(
        resource, token, credentials, shard, dry_run=dry_run, server_ca=ca_bundle, server_peer_check=peer_check
    )
