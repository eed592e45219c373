"""A namespace editor's attacks on the shared operator, each against the running operator on a real API server.

Secrets that did not consent are not read; a Secret value that is not text is a condition, not a crash;
a same-named object someone else owns is never patched; a forged run result is ignored. Each test also
shows the operator keeps serving: the honest variant next to the attack becomes Ready.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import pytest
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.waiting import wait_for

from payload_operator.adapters.kube import CONSENT_LABEL
from payload_operator.scheduler import job_manifest as job_objects
from tests.e2e.conftest import ADMIN_TOKEN, apply, condition, get_eps, secret_manifest, wait_condition
from tests.e2e.test_retention_e2e import AUDIT, jobs_of, play_kubelet, runner_kubeconfig, seeded

Deploy = Callable[..., dict[str, Any]]


def _server(dw: EmulatedServer, secret: str) -> dict[str, Any]:
    return {"url": dw.url, "tokenSecretRef": {"name": secret}, "namespaces": ["orders"], "requestTimeoutSeconds": 2}


def test_a_secret_that_did_not_consent_is_not_read_and_the_condition_says_how_to_consent(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    # the attack: point tokenSecretRef at some other Secret of the namespace (here: unlabelled db credentials)
    apply(crd, secret_manifest(kube_namespace, "db-creds", {"token": ADMIN_TOKEN}, consent=False))
    deploy("borrower", server=_server(dw_server, "db-creds"))
    body = wait_condition(crd, kube_namespace, "borrower", "PolicySynced", "False", "SecretConsentMissing")
    message = condition(body, "PolicySynced")["message"]
    assert f"kubectl label secret -n {kube_namespace} db-creds {CONSENT_LABEL}=true" in message
    assert condition(body, "Ready")["reason"] == "SecretConsentMissing"
    assert dw_server.policy("orders") is None, "nothing was sent with the unconsented token"

    deploy("honest")  # the fixture's dw-admin Secret is labelled
    wait_condition(crd, kube_namespace, "honest", "Ready", "True")

    crd.kubectl("label", "secret", "-n", kube_namespace, "db-creds", f"{CONSENT_LABEL}=true")
    wait_condition(crd, kube_namespace, "borrower", "Ready", "True", timeout=90)


def test_a_secret_value_that_is_not_text_is_a_false_condition(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer
) -> None:
    binary = secret_manifest(kube_namespace, "binary", {})
    binary["data"] = {"token": base64.b64encode(b"\xff\xfe\x00token").decode()}
    apply(crd, binary)
    deploy("binary", server=_server(dw_server, "binary"))
    body = wait_condition(crd, kube_namespace, "binary", "PolicySynced", "False", "SecretValueNotText")
    assert "key 'token' is not base64 of UTF-8 text" in condition(body, "PolicySynced")["message"]
    deploy("honest")
    wait_condition(crd, kube_namespace, "honest", "Ready", "True")


def test_a_same_named_configmap_someone_else_owns_is_left_untouched(
    deploy: Deploy, crd: Cluster, kube_namespace: str
) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "payloads-policy", "namespace": kube_namespace, "labels": {"team": "billing"}},
        "data": {"policy.json": '{"theirs": true}'},
    }
    apply(crd, foreign)
    before = crd.api("GET", f"/api/v1/namespaces/{kube_namespace}/configmaps/payloads-policy")
    deploy("payloads")
    body = wait_condition(crd, kube_namespace, "payloads", "PolicySynced", "False", "ObjectNotOwned")
    assert (
        f"ConfigMap {kube_namespace}/payloads-policy exists and is not owned"
        in condition(body, "PolicySynced")["message"]
    )
    after = crd.api("GET", f"/api/v1/namespaces/{kube_namespace}/configmaps/payloads-policy")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "not patched"
    assert after["data"] == foreign["data"]
    assert "ownerReferences" not in after["metadata"]

    deploy("other")  # its own <name>-policy is free: published as usual
    wait_condition(crd, kube_namespace, "other", "Ready", "True")


@pytest.fixture
def dw_server(dw_server_with_references: EmulatedServer) -> EmulatedServer:
    """A server whose histories show references, so the honest retention run has something to count."""
    return dw_server_with_references


def test_a_forged_run_result_is_ignored_and_the_jobs_own_result_counts(
    deploy: Deploy, crd: Cluster, kube_namespace: str, dw_server: EmulatedServer, caplog: pytest.LogCaptureFixture
) -> None:
    seeded(dw_server)
    deploy(retention=AUDIT, runner={"type": "Job", "activeDeadlineSeconds": 900})
    (job,) = wait_for(lambda: jobs_of(crd, kube_namespace), timeout=30, message="the run's Job")
    run_id = job["metadata"]["labels"][job_objects.RUN_ID]
    labels = job["metadata"]["labels"] | {job_objects.COMPONENT: "run-result"}
    lie = '{"ok": true, "shard": "0/1", "result": {"orphans": {"candidates": 0, "deleted": 0}}}'
    forged = {  # what any ConfigMap writer can do: the run's labels and an "all ok" envelope
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{job['metadata']['name']}-forged", "namespace": kube_namespace, "labels": labels},
        "data": {job_objects.RESULT_KEY: lie},
    }
    # what someone who may also create Jobs can do: a Job with the run's labels, owned by the resource, and
    # a result that this Job owns
    decoy = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "decoy",
            "namespace": kube_namespace,
            "labels": job["metadata"]["labels"],
            "ownerReferences": job["metadata"]["ownerReferences"],
        },
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "x"}]}}},
    }
    decoy_uid = crd.api("POST", f"/apis/batch/v1/namespaces/{kube_namespace}/jobs", decoy)["metadata"]["uid"]
    decoy_result = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "decoy-result",
            "namespace": kube_namespace,
            "labels": labels,
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "decoy", "uid": decoy_uid}],
        },
        "data": {job_objects.RESULT_KEY: lie},
    }
    with caplog.at_level(logging.WARNING):
        apply(crd, forged, decoy_result)
        for name in (forged["metadata"]["name"], "decoy-result"):
            wait_for(
                lambda name=name: f"ignoring ConfigMap {kube_namespace}/{name}" in caplog.text,
                timeout=30,
                message=f"the operator's warning about the forged result {name}",
            )
    body = get_eps(crd, kube_namespace, "payloads")
    assert body["status"]["retention"]["activeRun"]["id"] == run_id, "the forged result did not end the run"
    assert condition(body, "RetentionSucceeded") == {}

    done = play_kubelet(job, runner_kubeconfig(crd, kube_namespace))
    assert done.returncode == 0, done.stdout + done.stderr
    body = wait_condition(crd, kube_namespace, "payloads", "RetentionSucceeded", "True", reason="Succeeded")
    assert body["status"]["retention"]["lastResult"]["orphans"]["candidates"] == 3, "the Job's own numbers"
    left = crd.api("GET", f"/api/v1/namespaces/{kube_namespace}/configmaps/{forged['metadata']['name']}")
    assert left["data"] == forged["data"], "someone else's ConfigMap is not the operator's to delete"
    assert crd.exists(f"/apis/batch/v1/namespaces/{kube_namespace}/jobs/decoy"), "nor someone else's Job"
