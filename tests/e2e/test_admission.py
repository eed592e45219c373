"""Invalid resources are refused by the real API server at `kubectl apply`, naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from devkit.cluster import Cluster

GOOD: dict[str, Any] = {
    "apiVersion": "payloads.durable-workflow.io/v1alpha1",
    "kind": "ExternalPayloadStorage",
    "metadata": {"name": "candidate"},
    "spec": {
        "server": {"url": "https://dw.example", "tokenSecretRef": {"name": "dw-admin"}, "namespaces": ["orders"]},
        "driver": "s3",
        "s3": {"bucket": "dw-payloads"},
        "prefix": "namespaces/orders",
    },
}


def mutate(path: str, value: Any) -> dict[str, Any]:
    """GOOD with spec.<path> set to value (None deletes it)."""
    body = copy.deepcopy(GOOD)
    node = body["spec"]
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return body


def both(path_a: str, value_a: Any, path_b: str, value_b: Any) -> dict[str, Any]:
    """Two mutations at once."""
    body = mutate(path_a, value_a)
    rest = mutate(path_b, value_b)["spec"]
    top = path_b.split(".", maxsplit=1)[0]
    body["spec"][top] = rest[top]
    return body


INVALID = [
    ("wrong type threshold", mutate("thresholdBytes", "big"), "spec.thresholdBytes"),
    ("zero threshold", mutate("thresholdBytes", 0), "spec.thresholdBytes"),
    ("negative threshold", mutate("thresholdBytes", -5), "spec.thresholdBytes"),
    ("huge threshold", mutate("thresholdBytes", 10**15), "spec.thresholdBytes"),
    ("unknown driver", mutate("driver", "ftp"), "spec.driver"),
    ("missing provider block", mutate("s3", None), "spec.s3"),
    ("extra provider block", mutate("gcs", {"bucket": "dw-payloads"}), "spec.gcs"),
    ("block of another driver", both("driver", "local", "s3", {"bucket": "dw-payloads"}), "spec"),
    ("missing server", mutate("server", None), "spec.server"),
    ("server url not http", mutate("server.url", "ftp://dw"), "spec.server.url"),
    ("no namespaces", mutate("server.namespaces", []), "spec.server.namespaces"),
    ("bad namespace name", mutate("server.namespaces", ["orders/../x"]), "spec.server.namespaces"),
    ("too many namespaces", mutate("server.namespaces", [f"ns{i}" for i in range(101)]), "spec.server.namespaces"),
    ("duplicate namespaces", mutate("server.namespaces", ["a", "a"]), "spec.server.namespaces"),
    ("bad secret name", mutate("server.tokenSecretRef", {"name": "Not_A_Name"}), "spec.server.tokenSecretRef.name"),
    ("prefix with dotdot", mutate("prefix", "namespaces/../etc"), "spec.prefix"),
    ("prefix with dot segment", mutate("prefix", "./orders"), "spec.prefix"),
    ("prefix leading slash", mutate("prefix", "/orders"), "spec.prefix"),
    ("prefix with space", mutate("prefix", "my orders"), "spec.prefix"),
    ("prefix unicode trick", mutate("prefix", "orders\u2215evil"), "spec.prefix"),
    ("bad bucket name", mutate("s3", {"bucket": "Bad_Bucket"}), "spec.s3.bucket"),
    ("bad management policy", mutate("managementPolicy", "Sometimes"), "spec.managementPolicy"),
    ("bad deletion policy", mutate("deletionPolicy", "Purge"), "spec.deletionPolicy"),
    ("lifecycle zero days", mutate("lifecycle", {"expirationDays": 0}), "spec.lifecycle.expirationDays"),
    ("lifecycle prefix without slash", mutate("lifecycle", {"tmpPrefixes": ["tmp"]}), "spec.lifecycle.tmpPrefixes"),
    ("lifecycle prefix reaching avro", mutate("lifecycle", {"tmpPrefixes": ["avro/"]}), "spec.lifecycle.tmpPrefixes"),
    (
        "lifecycle too many prefixes",
        mutate("lifecycle", {"tmpPrefixes": [f"t{i}/" for i in range(11)]}),
        "spec.lifecycle.tmpPrefixes",
    ),
    ("retention bad schedule", mutate("retention", {"schedule": "every day"}), "spec.retention.schedule"),
    (
        "orphan audit bad mode",
        mutate("retention", {"orphanAudit": {"mode": "Purge"}}),
        "spec.retention.orphanAudit.mode",
    ),
    (
        "orphan audit bad minAge",
        mutate("retention", {"orphanAudit": {"minAge": "-1h"}}),
        "spec.retention.orphanAudit.minAge",
    ),
    ("integrity ratio above one", mutate("integrity", {"sampleRatio": 1.5}), "spec.integrity.sampleRatio"),
    ("integrity ratio zero", mutate("integrity", {"sampleRatio": 0}), "spec.integrity.sampleRatio"),
    ("runner too many shards", mutate("runner", {"shards": 1000}), "spec.runner.shards"),
]


@pytest.fixture
def applied_namespace(crd: Cluster, kube_namespace: str) -> str:
    return kube_namespace


def test_the_good_resource_is_accepted(crd: Cluster, applied_namespace: str) -> None:
    crd.kubectl("apply", "--dry-run=server", "-n", applied_namespace, "-f", "-", input=yaml.safe_dump(GOOD))


@pytest.mark.parametrize(("case", "body", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_resource_is_refused_naming_the_field(
    crd: Cluster, applied_namespace: str, case: str, body: dict[str, Any], field: str
) -> None:
    # --validate=false: the API server, not the kubectl client, is the authority that must refuse it
    result = crd.kubectl(
        "apply", "--validate=false", "-n", applied_namespace, "-f", "-", input=yaml.safe_dump(body), check=False
    )
    assert result.returncode != 0, f"{case}: accepted"
    assert "is invalid" in result.stderr, result.stderr
    assert field in result.stderr, f"{case}: {result.stderr}"
    listed = crd.kubectl("get", "eps", "-n", applied_namespace, "-o", "name").stdout
    assert "candidate" not in listed
