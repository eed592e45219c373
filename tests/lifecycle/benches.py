"""One rule bench per provider: a fresh bucket (or storage account), resources that target it, the
production rule store, and an independent raw view of the rules for checking and hand edits.

The raw view never goes through the code under test: S3 through a plain boto3 client, GCS through a
plain google-cloud-storage client, Azure through the ARM emulator's state.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from devkit.arm_emulator import ArmEmulator
from devkit.naming import unique_name
from devkit.services import GcsEndpoint, S3Endpoint

from payload_operator.adapters.bucket_rules.azure_arm import AzureArmRules
from payload_operator.adapters.bucket_rules.base import RuleStore
from payload_operator.adapters.bucket_rules.factory import arm_client, open_rule_store
from payload_operator.api.resource import Resource, resource_from_body
from payload_operator.api.spec import API_GROUP, API_VERSION, KIND
from payload_operator.core.secrets import SecretValues

Rule = dict[str, Any]
UID_A = "0a0a0a0a-1111-4111-8111-000000000001"
UID_B = "0b0b0b0b-2222-4222-8222-000000000002"
SERVER = {"url": "http://dw.invalid", "tokenSecretRef": {"name": "dw-token"}, "namespaces": ["default"]}


def make_resource(
    driver: str,
    block: dict[str, Any],
    *,
    name: str = "orders",
    uid: str = UID_A,
    prefix: str = "dw",
    lifecycle: dict[str, Any] | None = None,
    **spec: Any,
) -> Resource:
    """An ExternalPayloadStorage with lifecycle defaults (tmp/, 10 days) and the given overrides."""
    body = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"namespace": "shop", "name": name, "uid": uid},
        "spec": {
            "server": SERVER,
            "driver": driver,
            driver: block,
            "prefix": prefix,
            "lifecycle": {"tmpPrefixes": ["tmp/"], "expirationDays": 10} | (lifecycle or {}),
            **spec,
        },
    }
    return resource_from_body(body)


def as_multiset(rules: list[Rule]) -> list[str]:
    """Rules as sorted JSON texts: equal exactly when the rule sets are byte-for-byte equal, order aside."""
    return sorted(json.dumps(rule, sort_keys=True, default=str) for rule in rules)


class RuleBench:
    """What every provider offers the shared scenarios."""

    name = ""
    driver = ""

    def block(self) -> dict[str, Any]:
        raise NotImplementedError

    def resource(self, **overrides: Any) -> Resource:
        return make_resource(self.driver, self.block(), **overrides)

    def store(self) -> RuleStore:
        raise NotImplementedError

    def raw(self) -> list[Rule]:
        raise NotImplementedError

    def put_raw(self, rules: list[Rule]) -> None:
        raise NotImplementedError

    def foreign_seed(self) -> list[Rule]:
        raise NotImplementedError

    def scoped(self, key_prefix: str) -> str:
        return key_prefix

    def is_ours(self, rule: Rule) -> bool:
        """Whether a rule carries an operator owner mark (any owner)."""
        raise NotImplementedError

    def prefix(self, rule: Rule) -> str:
        raise NotImplementedError

    def days(self, rule: Rule) -> int:
        raise NotImplementedError

    def with_days(self, rule: Rule, days: int) -> Rule:
        raise NotImplementedError

    def enabled(self, rule: Rule) -> bool:
        raise NotImplementedError

    def configuration_gone(self) -> bool:
        """Whether the bucket holds no lifecycle configuration at all."""
        return not self.raw()

    def foreign(self) -> list[str]:
        return as_multiset([r for r in self.raw() if not self.is_ours(r)])

    def owned(self, key_prefix: str) -> list[Rule]:
        """Operator-marked rules on exactly this key prefix."""
        return [r for r in self.raw() if self.is_ours(r) and self.prefix(r) == self.scoped(key_prefix)]

    def active_days(self, key_prefix: str) -> list[int]:
        """Expiration days of the enabled operator rules on this key prefix."""
        return [self.days(r) for r in self.owned(key_prefix) if self.enabled(r)]


class S3Bench(RuleBench):
    driver = "s3"

    def __init__(self, name: str, endpoint: S3Endpoint) -> None:
        self.name = name
        self.endpoint = endpoint
        self.client = endpoint.client()
        self.bucket = unique_name("lc")
        self.client.create_bucket(Bucket=self.bucket)
        self.credentials = SecretValues(
            "secret test/s3", {"accessKeyId": endpoint.access_key, "secretAccessKey": endpoint.secret_key}
        )

    def block(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "region": self.endpoint.region,
            "endpoint": self.endpoint.url,
            "forcePathStyle": True,
            "credentialsSecretRef": {"name": "s3"},
        }

    def store(self) -> RuleStore:
        store = open_rule_store(self.resource().spec, self.credentials)
        assert store is not None
        return store

    def raw(self) -> list[Rule]:
        try:
            return list(self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"])
        except self.client.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
                return []
            raise

    def configuration_gone(self) -> bool:
        try:
            self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
        except self.client.exceptions.ClientError as exc:
            return bool(exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration")
        return False

    def put_raw(self, rules: list[Rule]) -> None:
        if rules:
            self.client.put_bucket_lifecycle_configuration(Bucket=self.bucket, LifecycleConfiguration={"Rules": rules})
        else:
            self.client.delete_bucket_lifecycle(Bucket=self.bucket)

    def foreign_seed(self) -> list[Rule]:
        return [
            # Cirrus's CloudFormation rule: no ID, legacy rule-level Prefix.
            {"Expiration": {"Days": 10}, "Prefix": "cirrus/tmp/", "Status": "Enabled"},
            {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 7}},
            {
                "ID": "tagged",
                "Filter": {"And": {"Prefix": "x/", "Tags": [{"Key": "team", "Value": "data"}]}},
                "Status": "Disabled",
                "Expiration": {"Days": 3},
            },
            {
                "ID": "archive",
                "Filter": {"Prefix": "t/"},
                "Status": "Enabled",
                "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
            },
            {
                "ID": "everything-noncurrent",
                "Filter": {},
                "Status": "Enabled",
                "NoncurrentVersionExpiration": {"NoncurrentDays": 5},
            },
        ]

    def is_ours(self, rule: Rule) -> bool:
        return str(rule.get("ID", "")).startswith("eps-")

    def prefix(self, rule: Rule) -> str:
        return str((rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", "")))

    def days(self, rule: Rule) -> int:
        return int(rule["Expiration"]["Days"])

    def with_days(self, rule: Rule, days: int) -> Rule:
        return rule | {"Expiration": {"Days": days}}

    def enabled(self, rule: Rule) -> bool:
        return bool(rule["Status"] == "Enabled")


class GcsBench(RuleBench):
    """Ours: a Delete rule on exactly one prefix under the resources' roots (dw/, dw2/)."""

    name = driver = "gcs"

    def __init__(self, endpoint: GcsEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint.url)
        self.endpoint = endpoint
        self.client = endpoint.client()
        self.bucket = unique_name("lc")
        self.client.create_bucket(self.bucket)

    def block(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "endpoint": self.endpoint.url}

    def store(self) -> RuleStore:
        store = open_rule_store(self.resource().spec, None)
        assert store is not None
        return store

    def raw(self) -> list[Rule]:
        return [json.loads(json.dumps(rule)) for rule in self.client.get_bucket(self.bucket).lifecycle_rules]

    def labels(self) -> dict[str, str]:
        return {k: v for k, v in self.client.get_bucket(self.bucket).labels.items() if v is not None}

    def put_raw(self, rules: list[Rule]) -> None:
        bucket = self.client.get_bucket(self.bucket)
        bucket.lifecycle_rules = rules
        bucket.patch()

    def foreign_seed(self) -> list[Rule]:
        return [
            {"action": {"type": "Delete"}, "condition": {"age": 30, "matchesPrefix": ["logs/"]}},
            {"action": {"type": "Delete"}, "condition": {"age": 5, "matchesPrefix": ["dw/tmp/", "other/"]}},
            {"action": {"type": "SetStorageClass", "storageClass": "NEARLINE"}, "condition": {"age": 30}},
            {"action": {"type": "Delete"}, "condition": {"age": 2, "matchesSuffix": [".part"]}},
            {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 1}},
        ]

    def is_ours(self, rule: Rule) -> bool:
        prefixes = rule.get("condition", {}).get("matchesPrefix", [])
        return rule["action"]["type"] == "Delete" and len(prefixes) == 1 and prefixes[0].startswith("dw")

    def prefix(self, rule: Rule) -> str:
        return str(rule["condition"]["matchesPrefix"][0])

    def days(self, rule: Rule) -> int:
        return int(rule["condition"]["age"])

    def with_days(self, rule: Rule, days: int) -> Rule:
        return rule | {"condition": rule["condition"] | {"age": days}}

    def enabled(self, rule: Rule) -> bool:
        return True  # GCS rules cannot be disabled: they exist or not


class StaticToken:
    """A TokenCredential handing out one token, recording the scopes asked for."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass
class AzureAccount:
    emulator: ArmEmulator
    subscription: str
    resource_group: str
    name: str
    token: str

    def policy(self) -> dict[str, Any]:
        return {
            "subscriptionId": self.subscription,
            "resourceGroup": self.resource_group,
            "accountName": self.name,
            "endpoint": self.emulator.url,
        }


class ArmBench(RuleBench):
    name = driver = "azure"
    container = "payloads"

    def __init__(self, account: AzureAccount) -> None:
        self.account = account
        self.credential = StaticToken(account.token)

    def block(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "accountUrl": f"https://{self.account.name}.blob.core.windows.net",
            "managementPolicy": self.account.policy(),
        }

    def store(self, credential: Any = None) -> RuleStore:
        azure = self.resource().spec.azure
        assert azure is not None
        assert azure.management_policy is not None
        client = arm_client(azure.management_policy, credential or self.credential)
        return AzureArmRules(client, azure.management_policy, azure.container)

    def raw(self) -> list[Rule]:
        return (
            self.account.emulator.rules(self.account.subscription, self.account.resource_group, self.account.name) or []
        )

    def configuration_gone(self) -> bool:
        emulator, account = self.account.emulator, self.account
        return emulator.rules(account.subscription, account.resource_group, account.name) is None

    def put_raw(self, rules: list[Rule]) -> None:
        account = self.account
        account.emulator.set_rules(account.subscription, account.resource_group, account.name, rules or None)

    def foreign_seed(self) -> list[Rule]:
        def rule(name: str, prefixes: list[str], actions: dict[str, Any], **extra: Any) -> Rule:
            filters = {"blobTypes": ["blockBlob"], "prefixMatch": prefixes}
            return {
                "enabled": True,
                "name": name,
                "type": "Lifecycle",
                "definition": {"filters": filters, "actions": actions},
            } | extra

        return [
            rule("othercontainer", ["archive/"], {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 365}}}),
            rule(
                "tiering", ["payloads/reports/"], {"baseBlob": {"tierToCool": {"daysAfterModificationGreaterThan": 30}}}
            ),
            rule(
                "legacy-rule",
                ["payloads/old/"],
                {"snapshot": {"delete": {"daysAfterCreationGreaterThan": 30}}},
                enabled=False,
            ),
        ]

    def scoped(self, key_prefix: str) -> str:
        return f"{self.container}/{key_prefix}"

    def is_ours(self, rule: Rule) -> bool:
        return str(rule.get("name", "")).startswith("eps")

    def prefix(self, rule: Rule) -> str:
        return str(rule["definition"]["filters"]["prefixMatch"][0])

    def days(self, rule: Rule) -> int:
        return int(rule["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"])

    def with_days(self, rule: Rule, days: int) -> Rule:
        edited: Rule = json.loads(json.dumps(rule))
        edited["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"] = days
        return edited

    def enabled(self, rule: Rule) -> bool:
        return bool(rule.get("enabled", True))
