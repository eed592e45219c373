"""Render the CustomResourceDefinition from the pydantic models.

Pydantic emits JSON Schema with `$ref`s, `anyOf` for optionals and titles; Kubernetes wants a
structural OpenAPI v3 schema. The conversion below inlines references, drops what structural
schemas forbid and keeps types, enums, patterns, bounds, defaults and descriptions.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from payload_operator.api.spec import (
    API_GROUP,
    API_VERSION,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    ExternalPayloadStorageSpec,
)
from payload_operator.api.status import STRING_MAX, ExternalPayloadStorageStatus

Schema = dict[str, Any]

_KEPT_KEYS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "default",
    "additionalProperties",
    "format",
    "oneOf",
    "not",
}

PRINTER_COLUMNS: list[Schema] = [
    {"name": "Driver", "type": "string", "jsonPath": ".spec.driver"},
    {"name": "Bucket", "type": "string", "jsonPath": ".status.bucket"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type=='Ready')].status"},
    {"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type=='Ready')].reason"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Message",
        "type": "string",
        "priority": 1,
        "jsonPath": ".status.conditions[?(@.type=='Ready')].message",
    },
]


def _resolve(node: Any, defs: dict[str, Schema]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return {key: _resolve(value, defs) for key, value in node.items()}


def _collapse_optional(node: Schema) -> Schema:
    """`anyOf: [X, {type: null}]` becomes X: an optional field is simply omitted."""
    variants = node.get("anyOf")
    if not variants:
        return node
    non_null = [v for v in variants if v.get("type") != "null"]
    if len(non_null) != 1:
        raise ValueError(f"cannot express union in a structural schema: {variants}")
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    return {**non_null[0], **rest}


def _drop_nulls(value: Any) -> Any:
    """Object defaults as pydantic dumps them carry nulls for unset optionals; the API server refuses those."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


def _structural(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = _collapse_optional(node)
    out: Schema = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _structural(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = _structural(value)
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif value is not False:
                out[key] = _structural(value)
        elif key == "default":
            out[key] = _drop_nulls(value)
        elif key in _KEPT_KEYS or key.startswith("x-kubernetes-"):
            out[key] = value
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)  # a structural int-or-string field has no single type
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out.get(bound), bool):
            out[plain] = out.pop(bound)
            out[bound] = True  # OpenAPI v3.0 spells exclusive bounds as a flag beside the bound
    if out.get("default") in (None, ""):
        # Kubernetes 1.20 reads an empty-string default as null and refuses the CRD; omitted is the same.
        out.pop("default", None)
    if "const" in node:
        out["enum"] = [node["const"]]
    return out


def _without_defaults(node: Any) -> Any:
    """Status is written by the operator only; defaults there would just be noise."""
    if isinstance(node, dict):
        return {k: _without_defaults(v) for k, v in node.items() if k != "default"}
    return node


def _bounded_strings(node: Any) -> Any:
    """Status strings without a bound get STRING_MAX, so the API server refuses an unbounded one."""
    if isinstance(node, list):
        return [_bounded_strings(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _bounded_strings(value) for key, value in node.items()}
    if out.get("type") == "string" and "maxLength" not in out and "enum" not in out:
        out["maxLength"] = STRING_MAX
    return out


def openapi_schema(model: type[Any]) -> Schema:
    """The structural OpenAPI schema of a pydantic model, by camelCase alias."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _structural(_resolve(raw, defs))  # type: ignore[no-any-return]


def crd_manifest() -> Schema:
    """The whole CustomResourceDefinition as a dict."""
    spec_schema = openapi_schema(ExternalPayloadStorageSpec)
    status_schema = _bounded_strings(_without_defaults(openapi_schema(ExternalPayloadStorageStatus)))
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{API_GROUP}",
            "labels": {"app.kubernetes.io/name": "payload-operator", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["durable-workflow"],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": ExternalPayloadStorageSpec.__doc__,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "API version of the object."},
                                "kind": {"type": "string", "description": "Kind of the object."},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def crd_yaml() -> str:
    """The CRD as YAML, exactly as committed under crds/."""
    header = "# Generated by `payload-operator crd` from the pydantic models. Do not edit.\n"
    return header + yaml.safe_dump(crd_manifest(), sort_keys=False, width=120)
