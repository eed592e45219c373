"""Everything a run needs from Kubernetes, read once before it starts: the server token and storage credentials.

Shared by the in-process runner and the Job command, so both read the same Secrets the same way.
"""

from __future__ import annotations

from payload_operator.adapters.kube import KubeClient
from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.manifest import Resource
from payload_operator.runs.base import RunContext, Shard


def credentials_secret(spec: ExternalPayloadStorageSpec) -> str | None:
    """The name of the Secret holding storage credentials, or None for ambient credentials."""
    block = spec.s3 or spec.gcs or spec.azure
    reference = block.credentials_secret_ref if block is not None else None
    return reference.name if reference is not None else None


async def resolve_context(kube: KubeClient, resource: Resource, shard: Shard, *, dry_run: bool = False) -> RunContext:
    """The run context of one shard; KubeError (SecretNotFound, SecretKeyMissing, ...) when a Secret is unusable."""
    spec = resource.spec
    token_ref = spec.server.token_secret_ref
    token = await kube.read_secret_key(resource.namespace, token_ref.name, token_ref.key)
    secret = credentials_secret(spec)
    credentials = await kube.read_secret(resource.namespace, secret) if secret else None
    return RunContext(resource, token, credentials, shard, dry_run=dry_run)
