"""Azure storage-account management policies (ARM `managementPolicies/default`) via azure-mgmt-storage.

One policy per account holds every container's rules, so foreign rules are the norm here. Bodies
travel as raw ARM JSON in both directions (the SDK's models would re-shape foreign rules). A missing
policy is a 404 with code ManagementPolicyNotFound; any other 404 means the account is missing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from azure.core.exceptions import HttpResponseError

from payload_operator.adapters.bucket_rules.base import RulesRejected, Snapshot
from payload_operator.adapters.storage import azure, errors
from payload_operator.api.spec import AzureManagementPolicySpec
from payload_operator.planning.bucket_rules import RuleSet
from payload_operator.planning.rule_dialects import AzureDialect

POLICY_NAME = "default"
NO_POLICY = "ManagementPolicyNotFound"
BAD_REQUEST = 400
PROVIDER = "Azure ARM"


def _raw_json(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Any:
    """The response body as sent, instead of the SDK's model."""
    return pipeline_response.http_response.json()


class AzureArmRules:
    """The management policy of one storage account; our rules target one container."""

    def __init__(self, client: Any, policy: AzureManagementPolicySpec, container: str) -> None:
        self.client = client
        self.resource_group = policy.resource_group
        self.account = policy.account_name
        self.endpoint = policy.endpoint
        self.dialect = AzureDialect(container)
        self.location = f"azure://{policy.account_name}"

    def read(self) -> Snapshot:
        """The policy's rules; none when the account has no policy."""
        with self._errors("get management policy"):
            try:
                body = self.client.management_policies.get(
                    self.resource_group, self.account, POLICY_NAME, cls=_raw_json
                )
            except HttpResponseError as exc:
                if _code(exc) == NO_POLICY:
                    return Snapshot(RuleSet())
                raise
        rules = ((body.get("properties") or {}).get("policy") or {}).get("rules") or ()
        return Snapshot(RuleSet(tuple(rules)))

    def write(self, rules: RuleSet, _token: object, /) -> None:
        """PUT the whole policy, or DELETE it when no rule is left."""
        if not rules.rules:
            with self._errors("delete management policy"):
                self.client.management_policies.delete(self.resource_group, self.account, POLICY_NAME)
            return
        body = {"properties": {"policy": {"rules": [dict(rule) for rule in rules.rules]}}}
        with self._errors("put management policy"):
            self.client.management_policies.create_or_update(
                self.resource_group, self.account, POLICY_NAME, body, cls=_raw_json
            )

    def close(self) -> None:
        """Nothing to release: the client belongs to the rule factory's cache, shared with other resources."""

    def _errors(self, operation: str) -> AbstractContextManager[None]:
        return errors.translated(lambda exc: _translate(exc, operation, self.endpoint))


def _code(exc: HttpResponseError) -> str:
    return errors.error_code(getattr(exc.error, "code", None))


def _translate(exc: Exception, operation: str, endpoint: str) -> Exception | None:
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        if exc.status_code == BAD_REQUEST:
            detail = str(getattr(exc.error, "message", "") or "")[:200]
            return RulesRejected(f"{PROVIDER} {operation} refused: {_code(exc)} {detail}".rstrip())
        return errors.from_response(PROVIDER, operation, exc.status_code, _code(exc))
    return azure.translate(exc, operation, None, endpoint)
