"""The chart without a cluster: lint, schema, Kubernetes schemas, and what each configuration renders."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from payload_operator.core.config import OperatorConfig
from tests.ship.chart import (
    CHART,
    EXTRA_ALERT,
    NEW_KUBE,
    OLD_KUBE,
    VALUE_SET_NAMES,
    find,
    one,
    operator_container,
    render,
    render_chart,
    value_sets,
)

VALUES = value_sets()
BUILT_IN_GROUPS = (
    "v1",
    "apps/v1",
    "rbac.authorization.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "networking.k8s.io/v1",
    "policy/v1",
)


@pytest.mark.parametrize("kube_version", [OLD_KUBE, NEW_KUBE])
@pytest.mark.parametrize("value_set", VALUE_SET_NAMES)
def test_helm_lint_strict_is_clean(value_set: str, kube_version: str) -> None:
    report = render_chart.lint(VALUES[value_set], kube_version=kube_version)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": 2},
        {"rbac": {"scope": "cluster-wide"}},
        {"rbac": {"secretNames": ["Not_A_Name"]}},
        {"logFormat": "xml"},
        {"config": {"timerIntervall": 30}},
        {"image": {"digest": "latest"}},
        {"runner": {"nodeSelector": {"disk": True}}},
        {"runner": {"resources": {"requests": {"gpu": 1}}}},
        {"runner": {"resources": {"limits": {"memory": "lots"}}}},
        {"podDisruptionBudget": {"minAvailable": "half"}},
        {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone"}]},
        {"metrics": {"prometheusRule": {"additionalRules": [{"alert": "NoExpression"}]}}},
        {"metrics": {"prometheusRule": {"additionalRules": [{"expr": "up == 0"}]}}},
    ],
    ids=[
        "unknown-key",
        "bad-scope",
        "bad-secret-name",
        "bad-log-format",
        "typo-in-config",
        "bad-digest",
        "runner-node-selector-not-string",
        "runner-resources-unknown",
        "runner-memory-not-a-quantity",
        "pdb-not-a-number",
        "spread-without-when",
        "rule-without-expr",
        "rule-neither-alert-nor-record",
    ],
)
def test_values_schema_refuses_typos_and_bad_values(values: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(values)


@pytest.mark.parametrize("value_set", VALUE_SET_NAMES)
def test_built_in_kinds_match_the_kubernetes_schemas(value_set: str) -> None:
    # kubernetes-validate ships schemas from 1.25 on; the 1.20 server checks the 1.20 rendering
    # (tests/ship/test_chart_install.py), including kubectl's validation against its OpenAPI schema.
    for version in ("1.25.0", kubernetes_validate.latest_version()):
        docs = render(VALUES[value_set], kube_version=f"v{version}")
        checked = 0
        for doc in docs:
            if doc.body["apiVersion"] in BUILT_IN_GROUPS:
                kubernetes_validate.validate(doc.body, version, strict=True)
                checked += 1
        assert checked >= 8


def test_default_is_one_standalone_replica_recreated_watching_everything() -> None:
    docs = render({})
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    args = operator_container(docs)["args"]
    assert args[:3] == ["run", "--log-format=json", "--liveness=http://0.0.0.0:8081/healthz"]
    assert "--all-namespaces" in args
    assert "--standalone" in args
    assert not find(docs, "CustomResourceDefinition", "clusterkopfpeerings.kopf.dev")
    assert not find(docs, "Role"), "cluster scope: ClusterRoles only"


def test_container_is_hardened_with_a_writable_tmp_kopf_liveness_and_api_readiness() -> None:
    docs = render({})
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    container = operator_container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ready"}
    assert {"name": "ready", "containerPort": 8082, "protocol": "TCP"} in container["ports"]
    assert "--readiness=http://0.0.0.0:8082/readyz" in container["args"]
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["PAYLOAD_OPERATOR_METRICS_PORT"]["value"] == "8080"
    assert env["PAYLOAD_OPERATOR_API_CONTACT_MAX_AGE"]["value"] == "30"
    assert env["PAYLOAD_OPERATOR_JOB_IMAGE"]["value"] == container["image"]
    assert env["PAYLOAD_OPERATOR_JOB_SERVICE_ACCOUNT"]["value"] == "payload-operator-runner"


def test_readiness_probe_can_be_tuned_or_turned_off() -> None:
    tuned = operator_container(render({"readinessProbe": {"port": 9092, "apiContactMaxAge": 45}}))
    assert "--readiness=http://0.0.0.0:9092/readyz" in tuned["args"]
    assert {"name": "ready", "containerPort": 9092, "protocol": "TCP"} in tuned["ports"]
    assert {"name": "PAYLOAD_OPERATOR_API_CONTACT_MAX_AGE", "value": "45"} in tuned["env"]
    off = operator_container(render({"readinessProbe": {"enabled": False}}))
    assert "readinessProbe" not in off
    assert not [arg for arg in off["args"] if arg.startswith("--readiness")]
    assert "PAYLOAD_OPERATOR_API_CONTACT_MAX_AGE" not in {e["name"] for e in off["env"]}
    assert "livenessProbe" in off


def test_image_digest_wins_and_config_becomes_environment() -> None:
    digest = "sha256:" + "a" * 64
    config = {"timerInterval": 15, "maxReconcileWorkers": 4, "maxInProcessShards": 3, "namespaceSyncConcurrency": 2}
    docs = render({"image": {"digest": digest}, "config": config})
    container = operator_container(docs)
    assert container["image"] == f"ghcr.io/durable-workflow/payload-operator@{digest}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PAYLOAD_OPERATOR_TIMER_INTERVAL"] == "15"
    assert env["PAYLOAD_OPERATOR_MAX_RECONCILE_WORKERS"] == "4"
    assert env["PAYLOAD_OPERATOR_MAX_IN_PROCESS_SHARDS"] == "3"
    assert env["PAYLOAD_OPERATOR_NAMESPACE_SYNC_CONCURRENCY"] == "2"


def test_a_storage_price_reaches_the_operator_setting_and_none_leaves_it_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    priced = operator_container(render({"usage": {"pricePerGiBMonth": 0.023}}))
    env = {e["name"]: e.get("value") for e in priced["env"]}
    name = "PAYLOAD_OPERATOR_USAGE_PRICE_PER_GIB_MONTH"
    monkeypatch.setenv(name, str(env[name]))
    assert OperatorConfig().usage_price_per_gib_month == 0.023
    unpriced = operator_container(render({}))
    assert name not in {e["name"] for e in unpriced["env"]}


def test_namespaced_rbac_is_roles_in_the_watched_namespaces_with_pinned_secrets() -> None:
    docs = render(VALUES["namespaced"])
    args = operator_container(docs)["args"]
    assert "--namespace=apps" in args
    assert "--all-namespaces" not in args
    role = one(docs, "Role", "payload-operator", "apps")
    secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
    reads = [r for r in secret_rules if "get" in r["verbs"]]
    assert reads == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["dw-admin"], "verbs": ["get"]}]
    assert all("resourceNames" in r or r["verbs"] == ["create"] for r in secret_rules)
    cluster_roles = {d.name: d.body for d in find(docs, "ClusterRole")}
    kopf = cluster_roles.pop("payload-operator-kopf")
    assert {v for r in kopf["rules"] for v in r["verbs"]} == {"list", "watch"}, "cluster-wide rights: read-only"
    assert set(cluster_roles) == {"payload-operator-view", "payload-operator-edit"}, "no other cluster-wide rights"
    runner = one(docs, "Role", "payload-operator-runner", "apps")
    assert {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["dw-admin"], "verbs": ["get"]} in runner[
        "rules"
    ]
    assert one(docs, "ServiceAccount", "payload-operator-runner", "apps")


def test_more_replicas_turn_on_peering_with_distinct_priorities() -> None:
    docs = render(VALUES["peering"])
    container = operator_container(docs)
    assert container["command"] == ["/bin/sh", "-c"]
    script = container["args"][0]
    assert "--standalone" not in script
    assert "'--peering=payload-operator'" in script
    assert one(docs, "CustomResourceDefinition", "clusterkopfpeerings.kopf.dev")
    peering = one(docs, "ClusterKopfPeering", "payload-operator")
    assert peering["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    kopf = one(docs, "ClusterRole", "payload-operator-kopf")
    assert {
        "apiGroups": ["kopf.dev"],
        "resources": ["clusterkopfpeerings"],
        "verbs": ["get", "list", "watch", "patch"],
    } in kopf["rules"]
    assert one(docs, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def test_peering_command_passes_the_arguments_and_a_random_priority(tmp_path: Path) -> None:
    """Run the rendered shell command with a stand-in `payload-operator` that prints its argv."""
    script = operator_container(render(VALUES["peering"]))["args"][0]
    fake = tmp_path / "payload-operator"
    fake.write_text("#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    runs = [
        json.loads(
            subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
        )
        for _ in range(3)
    ]
    first = runs[0]
    assert first[:3] == ["run", "--log-format=json", "--liveness=http://0.0.0.0:8081/healthz"]
    assert "--peering=payload-operator" in first
    priorities = {args[-1] for args in runs}
    assert all(p.startswith("--priority=") and p.split("=")[1].isdigit() for p in priorities)
    assert len(priorities) > 1, "each pod draws its own priority"


def test_monitoring_renders_service_monitor_rules_and_dashboard() -> None:
    docs = render(VALUES["monitoring"])
    service = one(docs, "Service", "payload-operator-metrics")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    alerts = {r["alert"] for r in one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]}
    assert {
        "PayloadIntegrityObjectsDamaged",
        "PayloadIntegrityRunFailed",
        "PayloadRetentionNotSucceeding",
        "PayloadLifecycleNotSynced",
        "PayloadStorageUnreachable",
    } <= alerts
    dashboard = one(docs, "ConfigMap", "payload-operator-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["payload-operator.json"])["uid"] == "payload-operator"


def test_default_renders_no_prometheus_operator_kinds() -> None:
    kinds = {d.kind for d in render({})}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}


def test_crds_install_false_renders_no_crd_and_says_how_to_apply_it() -> None:
    values = VALUES["no-crds"]
    assert not find(render(values), "CustomResourceDefinition")
    assert not find(render({**values, "replicas": 2}), "CustomResourceDefinition")
    notes = render_chart.notes(values, kube_version=NEW_KUBE)
    assert "--show-only templates/crd.yaml --set crds.install=true" in notes
    assert f"--kube-version {NEW_KUBE} | kubectl apply --server-side -f -" in notes


def test_crd_is_kept_on_uninstall_unless_asked_otherwise() -> None:
    kept = one(render({}), "CustomResourceDefinition")
    assert kept["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    dropped = one(render({"crds": {"keep": False}}), "CustomResourceDefinition")
    assert "annotations" not in dropped["metadata"]


def test_notes_give_next_steps() -> None:
    text = render_chart.notes({}, kube_version=NEW_KUBE)
    assert "rollout status deployment/payload-operator" in text
    assert "kubectl get eps -A" in text
    assert "runner.namespaces" in text, "cluster scope: says where the Job ServiceAccount must exist"
    assert "label secret dw-admin payloads.durable-workflow.io/consent=true" in text, "Secrets need consent"
    pinned = render_chart.notes(VALUES["locked-down"], kube_version=NEW_KUBE)
    assert "(or pinned: apps/dw-admin)" in pinned
    namespaced = render_chart.notes(VALUES["namespaced"], kube_version=NEW_KUBE)
    assert "may read only these Secrets: dw-admin" in namespaced


def test_render_script_behaves_like_helm_template_with_set_flags() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "render-chart.py"
    argv = [sys.executable, str(script), "template", "--kube-version", OLD_KUBE, "-n", "payload-system"]
    argv += ["--set", "extraEnv[0].name=FOO", "--set", "extraEnv[0].value=bar", "--set", "rbac.scope=namespace"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "FOO", "value": "bar"} in env
    assert any(d["kind"] == "Role" and d["metadata"]["namespace"] == "payload-system" for d in docs)
    assert not any("x-kubernetes-validations" in json.dumps(d) for d in docs), "rendered for 1.20: no CEL"


def _job_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rules if "jobs" in r["resources"]]


@pytest.mark.parametrize("value_set", ["default", "namespaced", "locked-down"])
def test_job_rights_only_where_jobs_run(value_set: str) -> None:
    """Neither the ClusterRole nor a watched namespace's Role grants Jobs; runner.namespaces get a Role each."""
    docs = render(VALUES[value_set])
    for kind in ("ClusterRole", "Role"):
        for doc in find(docs, kind):
            if not doc.name.endswith("-jobs"):
                assert not _job_rules(doc.body["rules"]), f"{kind} {doc.name} grants Jobs"
    job_roles = {d.namespace: d.body for d in find(docs, "Role") if d.name == "payload-operator-jobs"}
    expected = {"default": set(), "namespaced": {"apps"}, "locked-down": {"apps"}}[value_set]
    assert set(job_roles) == expected
    for namespace, role in job_roles.items():
        assert _job_rules(role["rules"]) == [
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "create", "delete"]}
        ]
        binding = one(docs, "RoleBinding", "payload-operator-jobs", namespace)
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "payload-operator", "namespace": "payload-system"}
        ]


def test_runner_pods_may_not_read_jobs() -> None:
    """A result counts only when owned by its Job's uid: a runner able to read Jobs could forge another run's."""
    runner = one(render(VALUES["locked-down"]), "Role", "payload-operator-runner", "apps")
    assert not _job_rules(runner["rules"])


def test_network_policies_are_optional_and_close_job_pods_to_connections() -> None:
    assert not find(render(VALUES["default"]), "NetworkPolicy")
    docs = render(VALUES["locked-down"])
    operator = one(docs, "NetworkPolicy", "payload-operator", "payload-system")
    assert operator["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    assert {p["port"] for p in operator["spec"]["ingress"][0]["ports"]} == {8080, 8081, 8082}
    assert operator["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {}}]
    runner = one(docs, "NetworkPolicy", "payload-operator-runner", "apps")
    assert runner["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": "payload-operator",
        "app.kubernetes.io/component": "run",
    }
    assert runner["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in runner["spec"], "Ingress without rules: nothing may connect"
    blocked = [b["ipBlock"]["except"] for rule in runner["spec"]["egress"] for b in rule["to"]]
    assert ["169.254.0.0/16"] in blocked, "no cloud metadata endpoint by default"


def test_pinned_secrets_reach_the_operator() -> None:
    env = {e["name"]: e.get("value") for e in operator_container(render(VALUES["locked-down"]))["env"]}
    assert json.loads(env["PAYLOAD_OPERATOR_PINNED_SECRETS"]) == ["apps/dw-admin"]
    assert "PAYLOAD_OPERATOR_PINNED_SECRETS" not in {e["name"] for e in operator_container(render())["env"]}


def _env(docs: list[Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in operator_container(docs)["env"]}


def test_runner_placement_reaches_the_operator_as_json() -> None:
    """Like the Job image and ServiceAccount, placement reaches OperatorConfig as PAYLOAD_OPERATOR_JOB_* (JSON)."""
    runner = VALUES["day-two"]["runner"]
    env = _env(render(VALUES["day-two"]))
    assert json.loads(env["PAYLOAD_OPERATOR_JOB_NODE_SELECTOR"] or "") == runner["nodeSelector"]
    assert json.loads(env["PAYLOAD_OPERATOR_JOB_TOLERATIONS"] or "") == runner["tolerations"]
    assert json.loads(env["PAYLOAD_OPERATOR_JOB_AFFINITY"] or "") == runner["affinity"]
    assert json.loads(env["PAYLOAD_OPERATOR_JOB_IMAGE_PULL_SECRETS"] or "") == [{"name": "regcred"}]
    assert json.loads(env["PAYLOAD_OPERATOR_JOB_RESOURCES"] or "") == runner["resources"]


def test_runner_placement_unset_leaves_the_operator_defaults() -> None:
    env = _env(render({}))
    placement = {"NODE_SELECTOR", "TOLERATIONS", "AFFINITY", "IMAGE_PULL_SECRETS"}
    assert not {f"PAYLOAD_OPERATOR_JOB_{name}" for name in placement} & set(env)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["runner"]["resources"]
    assert json.loads(env["PAYLOAD_OPERATOR_JOB_RESOURCES"] or "") == defaults
    assert "PAYLOAD_OPERATOR_JOB_RESOURCES" not in _env(render({"runner": {"resources": None}}))


def test_operator_pod_pull_secrets() -> None:
    pod = one(render(VALUES["day-two"]), "Deployment")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert "imagePullSecrets" not in one(render({}), "Deployment")["spec"]["template"]["spec"]


def test_topology_spread_selects_the_operator_pods_unless_given_a_selector() -> None:
    deployment = one(render(VALUES["day-two"]), "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (constraint,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "topology.kubernetes.io/zone"
    assert constraint["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    own = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]}
    given = {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}
    spec = one(render({"topologySpreadConstraints": [{**given, "labelSelector": own}]}), "Deployment")["spec"]
    assert spec["template"]["spec"]["topologySpreadConstraints"] == [{**given, "labelSelector": own}]
    assert "topologySpreadConstraints" not in one(render({}), "Deployment")["spec"]["template"]["spec"]


def test_pod_disruption_budget_is_optional_and_keeps_a_standby_peer() -> None:
    assert not find(render({}), "PodDisruptionBudget")
    docs = render(VALUES["day-two"])
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": one(docs, "Deployment")["spec"]["selector"]["matchLabels"]},
    }
    old = one(render(VALUES["day-two"], kube_version=OLD_KUBE), "PodDisruptionBudget")
    assert old["apiVersion"] == "policy/v1beta1", "policy/v1 arrived in 1.21"
    chosen = one(render({"podDisruptionBudget": {"enabled": True, "minAvailable": "50%"}}), "PodDisruptionBudget")
    assert chosen["spec"]["minAvailable"] == "50%"
    assert "maxUnavailable" not in chosen["spec"], "a PDB takes one of the two"


def test_additional_rules_follow_the_shipped_alerts_untemplated() -> None:
    rules = one(render(VALUES["day-two"]), "PrometheusRule")["spec"]["groups"][0]["rules"]
    shipped = one(render(VALUES["monitoring"]), "PrometheusRule")["spec"]["groups"][0]["rules"]
    assert rules == [*shipped, EXTRA_ALERT], "appended as given: Helm leaves {{ $labels.x }} for Prometheus"
