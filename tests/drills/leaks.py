"""Secret-leak scans for drills: gather what a user or log shipper can read, search it for secret values.

    evidence = gather(cluster, [namespace], operator.log)
    assert_no_secrets(evidence, [token, access_key, secret_key, connection_string])

Evidence is everything that is not a Secret: the operator's log (every incarnation), Events, the
custom resources (status included), Jobs (their pod specs and env), ConfigMaps (published policy, run
results). Each secret value is searched as is, base64-encoded and URL-encoded, so a value copied into
a ConfigMap or an env var in encoded form is found too. Secrets themselves are skipped: the published
`<name>-server-env` Secret holds storage credentials on purpose.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote

from devkit.cluster import ApiError, Cluster

GROUP_PATH = "/apis/payloads.durable-workflow.io/v1alpha1"
MIN_SECRET = 8  # shorter values would match by coincidence; drills use long, distinctive ones
KINDS = {
    "events": "/api/v1/namespaces/{ns}/events",
    "resources": GROUP_PATH + "/namespaces/{ns}/externalpayloadstorages",
    "jobs": "/apis/batch/v1/namespaces/{ns}/jobs",
    "configmaps": "/api/v1/namespaces/{ns}/configmaps",
}


def gather(cluster: Cluster, namespaces: Sequence[str], operator_log: str) -> dict[str, str]:
    """Texts to scan, by where they came from ("operator log", "<ns> events", ...)."""
    evidence = {"operator log": operator_log}
    for namespace in namespaces:
        for kind, template in KINDS.items():
            try:
                items = cluster.api("GET", template.format(ns=namespace))["items"]
            except ApiError as exc:
                if exc.status == 404:
                    continue
                raise
            evidence[f"{namespace} {kind}"] = json.dumps(items, default=str)
    return evidence


def variants(secret: str) -> dict[str, str]:
    """The spellings a leaked value could take."""
    raw = secret.encode()
    return {
        "plain": secret,
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "url-encoded": quote(secret, safe=""),
    }


def find_secrets(evidence: Mapping[str, str], secrets: Iterable[str]) -> list[str]:
    """Where each secret appears, as "<where>: secret #<i> (<spelling>)", never the value itself."""
    found: list[str] = []
    for index, secret in enumerate(secrets):
        if len(secret) < MIN_SECRET:
            raise ValueError(f"secret #{index} is too short to search for reliably; use a distinctive value")
        for spelling, text in variants(secret).items():
            found.extend(f"{where}: secret #{index} ({spelling})" for where, body in evidence.items() if text in body)
    return found


def assert_no_secrets(evidence: Mapping[str, str], secrets: Iterable[str]) -> None:
    """Fail naming where a secret value appears; also fail if there was nothing to scan."""
    assert evidence.get("operator log"), "no operator log to scan: the scan would prove nothing"
    leaks = find_secrets(evidence, list(secrets))
    assert not leaks, "secret values leaked into: " + "; ".join(sorted(set(leaks)))
