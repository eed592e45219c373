"""Azure management-plane specifics: the ARM token, its scope and its permissions."""

from __future__ import annotations

from datetime import UTC, datetime

from payload_operator.reconcile.bucket_rules import sync_lifecycle
from tests.lifecycle.benches import ArmBench, AzureAccount, StaticToken

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_token_is_asked_for_the_configured_endpoint(azure_account: AzureAccount) -> None:
    bench = ArmBench(azure_account)

    outcome = sync_lifecycle(bench.resource(), bench.store(), now=NOW)

    assert outcome.condition.reason == "RulesApplied"
    assert (f"{azure_account.emulator.url}/.default",) in bench.credential.scopes


def test_a_read_only_identity_is_reported_and_writes_nothing(azure_account: AzureAccount) -> None:
    bench = ArmBench(azure_account)
    bench.put_raw(bench.foreign_seed())
    reader = StaticToken(azure_account.emulator.add_token("read-only", frozenset({"read"})))

    outcome = sync_lifecycle(bench.resource(), bench.store(reader), now=NOW)

    assert outcome.condition.reason == "StorageAccessDenied"
    assert "AuthorizationFailed (HTTP 403)" in outcome.condition.message
    assert bench.raw() == bench.foreign_seed()


def test_a_missing_storage_account_is_reported(azure_account: AzureAccount) -> None:
    bench = ArmBench(azure_account)
    azure_account.name = "nosuchaccount"

    outcome = sync_lifecycle(bench.resource(), bench.store(), now=NOW)

    assert outcome.condition.reason == "BucketNotFound"
    assert "ResourceNotFound (HTTP 404)" in outcome.condition.message
