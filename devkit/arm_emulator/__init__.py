"""Emulator of Azure Resource Manager's storage-account management-policy endpoints.

Azurite has no management plane, so the lifecycle code's ARM path is tested against this: a real
HTTPS server (aiohttp on a thread) that azure-mgmt-storage talks to unchanged, pointed at it through
`spec.azure.managementPolicy.endpoint` and trusting `ArmEmulator.ca_file` via REQUESTS_CA_BUNDLE.

Faithful to the documented contract (learn.microsoft.com "Management Policies" REST reference and
the azure-rest-api-specs examples StorageAccount{Get,Set,Delete}ManagementPolicy.json):
- GET/PUT/DELETE on .../storageAccounts/{account}/managementPolicies/default?api-version=...;
  responses {id, name: "DefaultManagementPolicy", type, properties: {lastModifiedTime, policy: {rules}}};
- no policy: 404 ManagementPolicyNotFound "No ManagementPolicy found for account <name>";
  DELETE of an absent policy succeeds (204), of a present one 200;
- a policy name other than `default`: 404 HttpResourceNotFound, as ARM answers an unknown URL;
- bearer token required (401 AuthenticationFailed / InvalidAuthenticationToken with a
  WWW-Authenticate challenge); a token lacking the action gets 403 AuthorizationFailed;
- unknown subscription / resource group / account: 404 SubscriptionNotFound / ResourceGroupNotFound /
  ResourceNotFound; missing api-version: 400 MissingApiVersionParameter;
- validation of the documented limits: at most 100 rules with unique (case-sensitive) names, type
  Lifecycle, definition.actions present, filters.blobTypes required, at most 10 prefixMatch entries.

Simplified: tokens are opaque strings registered with `add_token` (no audience or expiry check); the
400 code for an invalid policy (InvalidManagementPolicyRules) and its messages are ours, since Azure
does not document them; an empty rule list is refused (our code never sends one: it DELETEs);
rule names are not checked for characters (Azure accepts more than its documented alphanumerics);
no ETags, no throttling, no eventual consistency.
"""

from __future__ import annotations

from .server import ArmEmulator

__all__ = ["ArmEmulator"]
