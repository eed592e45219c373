"""Fixtures of the lifecycle suite: the ARM emulator, and one rule bench per provider on a fresh bucket.

Benches: moto and Ceph RGW (S3), the GCS emulator, and the ARM emulator (Azure management policies).
RGW runs are marked `rgw`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devkit.arm_emulator import ArmEmulator
from devkit.naming import unique_name

from tests.lifecycle.benches import ArmBench, AzureAccount, GcsBench, RuleBench, S3Bench

BENCHES = ["moto", pytest.param("rgw", marks=pytest.mark.rgw), "gcs", "azure"]


@pytest.fixture(scope="session")
def arm_emulator() -> Iterator[ArmEmulator]:
    with ArmEmulator() as emulator:
        yield emulator


@pytest.fixture
def azure_account(arm_emulator: ArmEmulator, monkeypatch: pytest.MonkeyPatch) -> AzureAccount:
    """A fresh storage account on the ARM emulator, reachable with a full-rights token."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm_emulator.ca_file))
    account = AzureAccount(
        arm_emulator,
        subscription="6f1e0000-0000-4000-8000-000000000001",
        resource_group=unique_name("rg"),
        name=unique_name("acct").replace("-", "")[:24],
        token=arm_emulator.add_token(unique_name("token")),
    )
    arm_emulator.add_account(account.subscription, account.resource_group, account.name)
    return account


@pytest.fixture(params=BENCHES)
def bench(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> RuleBench:
    name = request.param
    if name in ("moto", "rgw"):
        return S3Bench(name, request.getfixturevalue("moto_s3" if name == "moto" else "rgw_s3"))
    if name == "gcs":
        return GcsBench(request.getfixturevalue("gcs_emulator"), monkeypatch)
    return ArmBench(request.getfixturevalue("azure_account"))
