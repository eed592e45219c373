"""Namespaces and ``PUT /api/namespaces/{name}/external-storage`` validation and semantics (§6.1)."""

from __future__ import annotations

import pytest
from devkit.dw_emulator import EmulatedServer

from .helpers import Api


def test_put_replaces_the_whole_policy(gen_a: EmulatedServer, api_a: Api) -> None:
    first = {"driver": "s3", "enabled": True, "threshold_bytes": 1024, "config": {"bucket": "b", "prefix": "p/"}}
    assert api_a.put_policy("default", first).status_code == 200
    assert api_a.put_policy("default", {"driver": "local"}).status_code == 200
    assert gen_a.policy("default") == {"driver": "local", "enabled": True}


def test_null_and_empty_config_values_dropped_and_empty_config_not_stored(gen_a: EmulatedServer, api_a: Api) -> None:
    body = {"driver": "s3", "config": {"bucket": "b", "prefix": "", "region": None, "endpoint": "  "}}
    response = api_a.put_policy("default", body)
    assert response.json()["external_payload_storage"] == {"driver": "s3", "enabled": True, "config": {"bucket": "b"}}
    api_a.put_policy("default", {"driver": "s3", "config": {"prefix": ""}})
    assert gen_a.policy("default") == {"driver": "s3", "enabled": True}


def test_unknown_config_keys_dropped_gen_a_knows_no_container(api_a: Api, api_b: Api) -> None:
    body = {"driver": "azure", "config": {"container": "c", "bucket": "b", "secret": "x"}}
    assert api_a.put_policy("default", body).json()["external_payload_storage"]["config"] == {"bucket": "b"}
    stored = api_b.put_policy("default", body).json()["external_payload_storage"]["config"]
    assert stored == {"container": "c", "bucket": "b"}


def test_custom_driver_only_on_gen_b(api_a: Api, api_b: Api) -> None:
    body = {"driver": "custom", "config": {"scheme": "gs", "bucket": "b"}}
    assert api_a.put_policy("default", body).status_code == 422
    assert api_b.put_policy("default", body).status_code == 200


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"driver": ["The driver field is required."]}),
        ({"driver": 5}, {"driver": ["The driver field must be a string.", "The selected driver is invalid."]}),
        ({"driver": "local", "enabled": "yes"}, {"enabled": ["The enabled field must be true or false."]}),
        (
            {"driver": "local", "threshold_bytes": "x"},
            {"threshold_bytes": ["The threshold bytes field must be an integer."]},
        ),
        ({"driver": "local", "config": "x"}, {"config": ["The config field must be an array."]}),
        (
            {"driver": "local", "config": {"uri": "u" * 2049}},
            {"config.uri": ["The config.uri field must not be greater than 2048 characters."]},
        ),
        (
            {"driver": "s3", "config": {"auth_profile": 7}},
            {"config.auth_profile": ["The config.auth profile field must be a string."]},
        ),
    ],
)
def test_validation_messages(api_a: Api, body: dict[str, object], errors: dict[str, list[str]]) -> None:
    response = api_a.put_policy("default", body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["reason"] == "validation_failed"
    assert payload["errors"] == errors
    assert payload["validation_errors"] == errors


def test_summary_message_counts_more_errors(api_a: Api) -> None:
    response = api_a.put_policy("default", {"enabled": "x", "threshold_bytes": 0})
    assert response.json()["message"] == "The driver field is required. (and 2 more errors)"


def test_enabled_false_and_stringy_values(gen_a: EmulatedServer, api_a: Api) -> None:
    assert api_a.put_policy("default", {"driver": "local", "enabled": "0", "threshold_bytes": "10"}).status_code == 200
    assert gen_a.policy("default") == {"driver": "local", "enabled": False, "threshold_bytes": 10}


def test_names_are_lower_cased(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.add_namespace("Orders")
    assert api_a.put_policy("ORDERS", {"driver": "local"}).json()["name"] == "orders"
    assert api_a.get("/api/namespaces/Orders", role="operator").json()["name"] == "orders"


def test_create_namespace_and_duplicate(api_a: Api) -> None:
    created = api_a.post("/api/namespaces", json={"name": "Billing", "retention_days": 7})
    assert created.status_code == 201
    assert created.json()["name"] == "billing"
    assert created.json()["retention_days"] == 7
    assert created.json()["external_payload_storage"] is None
    duplicate = api_a.post("/api/namespaces", json={"name": "billing"})
    assert duplicate.status_code == 409
    assert duplicate.json()["reason"] == "namespace_already_exists"
    invalid = api_a.post("/api/namespaces", json={"name": "bad name!", "retention_days": 400})
    assert invalid.status_code == 422
    assert set(invalid.json()["errors"]) == {"name", "retention_days"}


def test_gen_b_namespace_object_has_retention_mode(api_b: Api) -> None:
    body = api_b.get("/api/namespaces/default", role="operator").json()
    assert list(body) == [
        "name",
        "description",
        "retention_mode",
        "retention_days",
        "status",
        "external_payload_storage",
        "created_at",
        "updated_at",
    ]


def test_set_policy_behind_the_operators_back(gen_a: EmulatedServer, api_a: Api) -> None:
    api_a.put_policy("default", {"driver": "local", "threshold_bytes": 100})
    gen_a.set_policy("default", {"driver": "s3", "enabled": True, "config": {"bucket": "other"}})
    assert api_a.get("/api/namespaces/default", role="operator").json()["external_payload_storage"] == {
        "driver": "s3",
        "enabled": True,
        "config": {"bucket": "other"},
    }
    gen_a.set_policy("default", None)
    assert gen_a.policy("default") is None
