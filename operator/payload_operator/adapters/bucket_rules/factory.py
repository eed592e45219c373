"""Open the lifecycle rule store a spec names, with the same credentials as its data plane.

S3 and GCS reuse the data-plane client (one credential chain, one set of timeouts), taken from the storage
factory's cache like every store's. Azure rules live in the management plane (ARM), which takes a service
principal from the Secret (tenantId, clientId, clientSecret) or, without one, azure-identity's
DefaultAzureCredential (workload identity, the AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET
environment); its clients are cached the same way (`adapters/storage/client_cache.py`), so a resync neither
builds one nor fetches a new token. Rule stores therefore release nothing on close: the caches own the clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from payload_operator.adapters.bucket_rules.base import RuleStore
from payload_operator.adapters.storage.base import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
from payload_operator.adapters.storage.capped import capped_session
from payload_operator.adapters.storage.client_cache import ClientCache, fingerprint
from payload_operator.adapters.storage.factory import open_store
from payload_operator.api.spec import AzureManagementPolicySpec, Driver, ExternalPayloadStorageSpec
from payload_operator.core.secrets import SecretValues

if TYPE_CHECKING:
    from azure.mgmt.storage import StorageManagementClient

# Each provider's SDK is imported only when a rule store of that provider is opened, as in
# adapters/storage/factory.py. Measured on `import payload_operator.handlers` (5 runs each): with the SDKs
# imported here at module level 1,473 modules, 107 MiB RSS, 1.6-2.4 s CPU; deferred 760 modules (no
# Azure one), 64 MiB, 1.0-1.25 s. An operator without Azure resources never loads the Azure SDKs.

ARM_RETRIES = 2
SERVICE_PRINCIPAL_KEYS = ("tenantId", "clientId", "clientSecret")


def open_rule_store(spec: ExternalPayloadStorageSpec, credentials: SecretValues | None) -> RuleStore | None:
    """The spec's rule store; None where rules cannot be kept natively (local, Azure without a policy)."""
    if spec.driver is Driver.S3:
        from payload_operator.adapters.bucket_rules.s3 import S3Rules
        from payload_operator.adapters.storage.s3 import S3Store

        s3 = cast(S3Store, open_store(spec, credentials))
        return S3Rules(s3.client, s3.bucket)
    if spec.driver is Driver.GCS:
        from payload_operator.adapters.bucket_rules.gcs import GcsRules
        from payload_operator.adapters.storage.gcs import GcsStore

        gcs = cast(GcsStore, open_store(spec, credentials))
        return GcsRules(gcs.client, gcs.bucket)
    if spec.driver is Driver.AZURE and spec.azure and spec.azure.management_policy:
        from payload_operator.adapters.bucket_rules.azure_arm import AzureArmRules

        policy = spec.azure.management_policy
        principal = _service_principal(credentials)
        key = fingerprint(policy.endpoint, policy.subscription_id, principal)
        arm = ARM_CLIENTS.get(key, lambda: _ArmClient.build(policy, principal))
        return AzureArmRules(arm.client, policy, spec.azure.container)
    return None


@dataclass(frozen=True)
class _ArmClient:
    """A management client and its credential, which caches the access token between resyncs."""

    client: Any
    credential: Any

    @classmethod
    def build(cls, policy: AzureManagementPolicySpec, principal: tuple[str, ...] | None) -> _ArmClient:
        credential = _credential(principal)
        return cls(arm_client(policy, credential), credential)

    def close(self) -> None:
        self.client.close()
        self.credential.close()


ARM_CLIENTS: ClientCache[_ArmClient] = ClientCache("arm", _ArmClient.close)


def _service_principal(credentials: SecretValues | None) -> tuple[str, ...] | None:
    """tenantId, clientId, clientSecret when the Secret has all three, else None (the ambient identity)."""
    if credentials is not None and all(credentials.get(k) for k in SERVICE_PRINCIPAL_KEYS):
        return tuple(credentials[k] for k in SERVICE_PRINCIPAL_KEYS)
    return None


def _credential(principal: tuple[str, ...] | None) -> Any:
    """The service principal's credential, else the ambient Azure identity."""
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    if principal is not None:
        tenant, client, secret = principal
        return ClientSecretCredential(tenant, client, secret)
    return DefaultAzureCredential()


def arm_client(policy: AzureManagementPolicySpec, credential: Any) -> StorageManagementClient:
    """A management client for the policy's endpoint (sovereign clouds have their own), failing fast,
    its answers capped (`adapters/storage/capped.py`)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from azure.mgmt.storage import StorageManagementClient

    endpoint = policy.endpoint.rstrip("/")
    transport = RequestsTransport(
        session=capped_session(requests.Session()),
        connection_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
    )
    return StorageManagementClient(
        credential,
        policy.subscription_id,
        base_url=endpoint,
        credential_scopes=[f"{endpoint}/.default"],
        transport=transport,
        retry_total=ARM_RETRIES,
    )
