"""Drill 5: hostile input. Bad resources are refused at admission, naming the field, and by the operator's
own parse on clusters that accepted them; bad or hostile server answers become a condition with a clear
reason while the operator keeps running; references that point anywhere but the configured bucket and
prefix are counted as invalid and never followed; resources asking for more than the admin's tenant policy
allows are refused naming the admin setting; lifecycle rules over another resource's root are refused."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.faultproxy import FaultProxy
from devkit.operator_process import OperatorProcess
from devkit.services import S3Endpoint
from devkit.values import SECRETS
from pydantic import ValidationError

from payload_operator.adapters.history import object_key, parse_reference
from payload_operator.api.resource import resource_from_body
from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.planning.bucket_rules import (
    OVERLAPS_OTHER_ROOT,
    Owner,
    RuleSet,
    claim,
    foreign_roots,
    plan_sync,
)
from payload_operator.planning.keys import ReferenceOutsideStorage
from payload_operator.planning.rule_dialects import S3Dialect
from payload_operator.planning.tenancy import TenantPolicy, decide, endpoints_of, refusal_message
from payload_operator.reconcile.engine import describe_validation_error
from tests.drills.hostile_cases import (
    ADMISSION,
    ANSWERS,
    API_SERVER,
    GOOD_TENANT,
    OPERATOR_NAMESPACE,
    REFERENCES,
    ROOTS,
    TENANT,
    TENANT_NAMESPACE,
    RootCase,
    TenantCase,
)
from tests.drills.kube import apply, condition, eps, get_eps, s3_secret, token_secret, wait_all
from tests.drills.leaks import assert_no_secrets, gather
from tests.drills.storage import Bucket, payload_key, s3_bucket

MAX_MESSAGE = 4096  # what a condition message may grow to, whatever the server sent
MAX_STATUS = 16384  # what the whole status may grow to


@pytest.mark.parametrize(("case", "body", "field"), ADMISSION, ids=[c[0] for c in ADMISSION])
def test_hostile_resource_is_refused_at_admission(
    drill_cluster: Cluster, drill_namespace: str, case: str, body: dict[str, Any], field: str
) -> None:
    result = drill_cluster.kubectl("apply", "-n", drill_namespace, "-f", "-", input=yaml.safe_dump(body), check=False)
    assert result.returncode != 0, f"{case}: accepted"
    assert field in result.stderr, f"{case}: {result.stderr}"
    listed = drill_cluster.kubectl("get", "eps", "-n", drill_namespace, "-o", "name").stdout
    assert "candidate" not in listed


@pytest.mark.parametrize(("case", "body", "field"), ADMISSION, ids=[c[0] for c in ADMISSION])
def test_hostile_resource_is_refused_by_the_operator_too(case: str, body: dict[str, Any], field: str) -> None:
    """Clusters that accepted it anyway (an older CRD, CEL missing) still get InvalidSpec naming the field."""
    with pytest.raises(ValidationError) as refused:
        ExternalPayloadStorageSpec.model_validate(body["spec"])
    assert field.removeprefix("spec.").split(".")[0] in describe_validation_error(refused.value), case


def _tenant_spec(case: TenantCase) -> ExternalPayloadStorageSpec:
    merged = {k: v for k, v in (GOOD_TENANT | case.spec).items() if v is not None}
    return ExternalPayloadStorageSpec.model_validate(merged)


def _judge(case: TenantCase, spec: ExternalPayloadStorageSpec, policy: TenantPolicy) -> list[Any]:
    return decide(
        spec,
        case.namespace,
        policy,
        operator_namespace=OPERATOR_NAMESPACE,
        endpoints=endpoints_of(spec, case.credentials),
        addresses={name: [ipaddress.ip_address(a) for a in found] for name, found in case.addresses.items()},
        api_server=[ipaddress.ip_address(API_SERVER)],
    )


def test_the_good_tenant_resource_passes_the_default_policy() -> None:
    """The refusals below are the cases' doing: a tenant with its own Secret on public S3 is allowed."""
    good = TenantCase("good", {}, "")
    assert _judge(good, _tenant_spec(good), TenantPolicy()) == []


@pytest.mark.parametrize("case", TENANT, ids=[c.name for c in TENANT])
def test_tenant_policy_refuses_what_the_admin_did_not_allow(case: TenantCase) -> None:
    found = _judge(case, _tenant_spec(case), TenantPolicy.model_validate(case.policy))
    assert case.setting in [v.setting for v in found], f"{case.name}: {found}"
    assert f"tenantPolicy.{case.setting}" in refusal_message(found)


@pytest.mark.parametrize("case", ROOTS, ids=[c.name for c in ROOTS])
def test_a_lifecycle_rule_over_another_resources_root_writes_nothing(case: RootCase) -> None:
    mine = {"driver": "s3", "s3": {"bucket": "shared"}, "prefix": case.prefix}
    server = GOOD_TENANT["server"]
    spec = ExternalPayloadStorageSpec.model_validate(
        mine | {"server": server, "lifecycle": {"tmpPrefixes": case.tmp_prefixes}}
    )
    other = {
        "metadata": {"namespace": "team-b", "name": "theirs", "uid": "uid-b"},
        "spec": {"driver": "s3", "s3": {"bucket": "shared"}, "prefix": case.other_prefix, "server": server},
    }
    unrelated = other | {"spec": other["spec"] | {"s3": {"bucket": "elsewhere"}, "prefix": ""}}
    roots = foreign_roots(spec, "uid-a", [other, unrelated])
    assert [r.owner for r in roots] == ["ExternalPayloadStorage team-b/theirs"]
    assert foreign_roots(spec, "uid-a", [claim(other), claim(unrelated)]) == roots, "the kept listing finds the same"
    plan = plan_sync(S3Dialect(), Owner(TENANT_NAMESPACE, "mine", "0a0a0a0a"), spec, RuleSet(), roots)
    assert OVERLAPS_OTHER_ROOT in [r.reason for r in plan.withdrawn], plan.withdrawn
    assert not plan.needs_write


def test_hostile_server_answers_are_reported_and_the_operator_stays_up(
    drill_cluster: Cluster,
    drill_namespace: str,
    operator: OperatorProcess,
    dw_server: Callable[..., EmulatedServer],
) -> None:
    # Servers with a storage discovery block (the references profile): some answers make its status hostile.
    servers = {answer.name: dw_server(answer.namespaces, profile="references") for answer in ANSWERS}
    for answer in ANSWERS:
        answer.install(servers[answer.name])
    manifests = [
        eps(
            drill_namespace,
            a.name,
            url=servers[a.name].url,
            dw_namespaces=a.namespaces,
            local_root=servers[a.name].local_root,
        )
        for a in ANSWERS
    ]
    apply(drill_cluster, token_secret(drill_namespace), *manifests)
    for answer in ANSWERS:
        body = wait_all(drill_cluster, drill_namespace, [answer.name], answer.condition, "False", answer.reason, 120)
        found = condition(body[answer.name], answer.condition)
        assert answer.message in found["message"], f"{answer.name}: {found}"
        assert len(found["message"]) <= MAX_MESSAGE, f"{answer.name}: message of {len(found['message'])} chars"
        assert condition(body[answer.name], "Ready")["status"] == "False", answer.name
        size = len(json.dumps(body[answer.name]["status"]))
        assert size <= MAX_STATUS, f"{answer.name}: status of {size} bytes"
    operator.assert_up()
    assert_no_secrets(gather(drill_cluster, [drill_namespace], operator.log), SECRETS)

    for server in servers.values():
        server.faults.clear()
    recovering = [a.name for a in ANSWERS if a.recovers]
    wait_all(drill_cluster, drill_namespace, recovering, "Ready", "True", timeout=120)
    for answer in ANSWERS:
        if not answer.recovers:  # the operator honours the server's Retry-After: no pass has come back yet
            found = condition(get_eps(drill_cluster, drill_namespace, answer.name), answer.condition)
            assert found["reason"] == answer.reason, f"{answer.name}: {found}"
    operator.assert_up()


def _spec_for(bucket: str) -> ExternalPayloadStorageSpec:
    body = eps(
        "apps",
        "refs",
        url="http://127.0.0.1:9",
        dw_namespaces=["orders"],
        prefix="dw",
        driver="s3",
        s3={"bucket": bucket},
    )
    return resource_from_body(body | {"metadata": {"name": "refs", "namespace": "apps", "uid": "u-1"}}).spec


def _refused(envelope: dict[str, Any], spec: ExternalPayloadStorageSpec) -> bool:
    """Whether the walk would refuse to follow the reference (invalid, or outside bucket and prefix)."""
    reference = parse_reference(envelope)
    if reference is None:
        return True
    try:
        object_key(reference, spec)
    except ReferenceOutsideStorage:
        return True
    return False


def _seed(bucket: Bucket, bait: Bucket, server: EmulatedServer, *, orphan: bool) -> tuple[list[str], list[str]]:
    """Two referenced payloads (one also referenced with every hostile variant), bait at every place a
    hostile reference points to, and optionally one orphan; returns (payload keys, bait keys)."""
    payloads = [f"hostile-reference drill payload {n} ".encode() * 40 for n in range(2 + int(orphan))]
    keys = []
    for data in payloads:
        keys.append(payload_key(data))
        bucket.put(keys[-1], data)
    for n, data in enumerate(payloads[:2]):
        server.add_workflow("orders", f"good-{n}", input=server.reference_envelope(bucket.uri(keys[n]), data))
    sha, size = keys[0].rsplit("/", 1)[1], len(payloads[0])
    bait_keys = [f"{top}/avro/{sha[:2]}/{sha}" for top in ("secret", "dw-evil")]
    for key in bait_keys:
        bucket.put(key, b"bait: must never be read or deleted")
    bait.put(f"dw/avro/{sha[:2]}/{sha}", b"bait in another bucket")
    for n, case in enumerate(REFERENCES):
        envelope = {"codec": "avro", "external_storage": case.build(bucket.name, sha, size)}
        server.add_workflow("orders", f"hostile-{n}", input=envelope)
    return keys, bait_keys


def _outside(proxy: FaultProxy, bucket: str) -> list[str]:
    """Requests that reached anything but the bucket's dw/ prefix: listings must be scoped to it, and a
    batch delete (POST ?delete) may only name keys under it."""
    outside = []
    for exchange in proxy.requests.all():
        if exchange.path == f"/{bucket}" and "prefix=dw%2F" in exchange.query:
            continue
        if exchange.path.startswith(f"/{bucket}/dw/"):
            continue
        if (exchange.method, exchange.path, exchange.query) == ("POST", f"/{bucket}", "delete"):
            named = re.findall(rb"<Key>([^<]*)</Key>", exchange.body)
            if named and all(key.startswith(b"dw/") for key in named):
                continue
        outside.append(f"{exchange.method} {exchange.target}")
    return outside


def test_hostile_references_are_refused_and_nothing_outside_the_prefix_is_touched(
    drill_cluster: Cluster,
    drill_namespace: str,
    operator: OperatorProcess,
    dw_server: Callable[..., EmulatedServer],
    fault_proxy: Callable[[str], FaultProxy],
    moto_s3: S3Endpoint,
) -> None:
    refused = [case for case in REFERENCES if case.refused]
    spec = _spec_for("drill-bucket")
    sha, size = "ab" * 32, 1234
    for case in REFERENCES:
        envelope = {"codec": "avro", "external_storage": case.build("drill-bucket", sha, size)}
        assert _refused(envelope, spec) == case.refused, case.name

    proxies = {kind: fault_proxy(moto_s3.url) for kind in ("integrity", "retention")}
    seeded = {}
    manifests = []
    for kind, proxy in proxies.items():
        bucket = s3_bucket(moto_s3)
        bait = Bucket("s3", f"{bucket.name}-bait", bucket.client)
        bucket.client.create_bucket(Bucket=bait.name)
        server = dw_server(["orders"], profile="references")  # orphan deletion needs observable references
        seeded[kind] = (bucket, bait, *_seed(bucket, bait, server, orphan=kind == "retention"))
        work = (
            {"integrity": {"schedule": "@daily", "mode": "Both", "concurrency": 2}}
            if kind == "integrity"
            else {"retention": {"serverPasses": False, "orphanAudit": {"mode": "Delete", "minAge": "1s"}}}
        )
        block = {
            "bucket": bucket.name,
            "endpoint": proxy.url,
            "forcePathStyle": True,
            "credentialsSecretRef": {"name": "dw-s3"},
        }
        manifests.append(
            eps(
                drill_namespace,
                f"refs-{kind}",
                url=server.url,
                dw_namespaces=["orders"],
                prefix="dw",
                runner={"type": "InProcess"},
                driver="s3",
                s3=block,
                **work,
            )
        )
    apply(drill_cluster, token_secret(drill_namespace), s3_secret(drill_namespace), *manifests)

    integrity = wait_all(drill_cluster, drill_namespace, ["refs-integrity"], "IntegrityVerified", "False", timeout=90)
    result = integrity["refs-integrity"]["status"]["integrity"]["lastResult"]
    # Histories repeat a run's input (start command, WorkflowStarted): each occurrence is counted.
    per_history, rest = divmod(result["invalidReferences"], len(refused))
    assert (per_history >= 1, rest) == (True, 0), result
    assert (result["checked"], result["corruptSize"], result["missing"]) == (2, 1, 0), result
    retention = wait_all(drill_cluster, drill_namespace, ["refs-retention"], "RetentionSucceeded", "True", timeout=90)
    orphans = retention["refs-retention"]["status"]["retention"]["lastResult"]["orphans"]
    assert proxies["retention"].requests.count(method="POST", query_contains="delete") == 1
    counts = (orphans["invalidReferences"], orphans["deleted"], orphans["candidates"])
    assert counts == (per_history * len(refused), 1, 1), orphans

    for kind, (bucket, bait, keys, bait_keys) in seeded.items():
        assert proxies[kind].requests.count(path_prefix=f"/{bucket.name}/dw/avro/") > 0, f"{kind}: nothing was read"
        assert _outside(proxies[kind], bucket.name) == [], f"{kind}: storage reached outside the prefix"
        assert bait.keys() == {f"dw/avro/{keys[0].rsplit('/', 1)[1][:2]}/{keys[0].rsplit('/', 1)[1]}"}
        assert bait.intact(bait.keys()) == []
        assert bucket.intact(bait_keys) == [], f"{kind}: bait outside the prefix touched"
        kept = keys[:2]
        assert bucket.intact(kept) == [], f"{kind}: a referenced payload was touched"
        assert bucket.keys() == set(kept + bait_keys), f"{kind}: only the orphan may go"
    operator.assert_up()
    assert_no_secrets(gather(drill_cluster, [drill_namespace], operator.log), SECRETS)
