"""The CRD is generated from the models, committed, and its CEL rules mean what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from payload_operator.api.crd import crd_manifest, crd_yaml
from payload_operator.api.spec import CEL_RULES, PREFIX_MESSAGE, TMP_PREFIX_MESSAGE, ExternalPayloadStorageSpec

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "crds" / "externalpayloadstorages.yaml"


def test_committed_crd_is_generated_from_models() -> None:
    assert COMMITTED.read_text() == crd_yaml(), "crds/ is stale: run `make crd`"


def _walk(schema: dict[str, Any], path: str = "spec") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for name, sub in (schema.get("properties") or {}).items():
        found += _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _walk(schema["items"], f"{path}[]")
    return found


def test_every_spec_field_is_described_and_typed() -> None:
    spec = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for path, schema in _walk(spec):
        assert schema.get("description"), f"{path} has no description"
        assert schema.get("type"), f"{path} has no type"
        if schema["type"] == "string" and "enum" not in schema:
            assert "maxLength" in schema, f"{path} is an unbounded string"
        if schema["type"] == "array":
            assert "maxItems" in schema, f"{path} is an unbounded list"


def _wire(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as the API server stores it: defaults applied."""
    return ExternalPayloadStorageSpec.model_validate(spec).to_wire()


def _evaluate(new: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Messages of every CEL rule that fails; transition rules only run on update, as in Kubernetes."""
    env = celpy.Environment()
    failed = []
    for rule in CEL_RULES:
        if "oldSelf" in rule["rule"] and old is None:
            continue
        activation = {"self": celpy.json_to_cel(new)}
        if old is not None:
            activation["oldSelf"] = celpy.json_to_cel(old)
        if not bool(env.program(env.compile(rule["rule"])).evaluate(activation)):
            failed.append(rule["message"])
    return failed


BASE = {
    "server": {"url": "https://dw.example", "tokenSecretRef": {"name": "dw"}, "namespaces": ["orders"]},
    "driver": "s3",
    "s3": {"bucket": "dw-payloads"},
    "prefix": "namespaces/orders",
}


def test_cel_accepts_a_good_resource_and_an_allowed_update() -> None:
    old = _wire(BASE)
    new = _wire({**BASE, "thresholdBytes": 4096, "lifecycle": {"tmpPrefixes": ["tmp/", "batch/"]}})
    assert _evaluate(new) == []
    assert _evaluate(new, old) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**BASE, "s3": None, "gcs": {"bucket": "dw-payloads"}}, "spec.s3 must be set exactly when spec.driver is s3"),
        ({**BASE, "gcs": {"bucket": "other"}}, "spec.gcs must be set exactly when spec.driver is gcs"),
        ({**BASE, "driver": "local", "local": {"path": "/data"}}, "spec.s3 must be set exactly when spec.driver is s3"),
        ({**BASE, "lifecycle": {"tmpPrefixes": ["avro/old/"]}}, TMP_PREFIX_MESSAGE),
        ({**BASE, "lifecycle": {"tmpPrefixes": ["team/avro/00/"]}}, TMP_PREFIX_MESSAGE),
        ({**BASE, "lifecycle": {"tmpPrefixes": ["x/quarantine/"]}}, TMP_PREFIX_MESSAGE),
        ({**BASE, "prefix": "namespaces/orders/avro", "lifecycle": {"tmpPrefixes": ["00/"]}}, PREFIX_MESSAGE),
    ],
)
def test_cel_refuses_cross_field_errors(spec: dict[str, Any], message: str) -> None:
    raw = {k: v for k, v in spec.items() if v is not None}
    assert message in _evaluate(raw)
    with pytest.raises(ValueError, match=r"spec\."):
        ExternalPayloadStorageSpec.model_validate(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"s3": {"bucket": "elsewhere"}}, "spec.s3.bucket is immutable"),
        ({"prefix": "namespaces/billing"}, "spec.prefix is immutable"),
        ({"driver": "gcs", "s3": None, "gcs": {"bucket": "dw-payloads"}}, "spec.driver is immutable"),
    ],
)
def test_cel_transition_rules_keep_storage_identity(change: dict[str, Any], message: str) -> None:
    old = _wire(BASE)
    new = _wire({k: v for k, v in {**BASE, **change}.items() if v is not None})
    assert message in _evaluate(new, old)


def test_structural_one_of_matches_the_cel_rule() -> None:
    spec = yaml.safe_load(COMMITTED.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    branches = {branch["required"][0]: branch for branch in spec["oneOf"]}
    assert set(branches) == {"s3", "gcs", "azure", "local"}
    for driver, branch in branches.items():
        assert branch["properties"]["driver"]["enum"] == [driver]
        assert set(branch["properties"]) - {"driver"} == {"s3", "gcs", "azure", "local"} - {driver}
