"""Drill: a lifecycle rule written before another resource's root appeared under it is taken back.

Tenant A's rule for "namespaces/orders/" was harmless while nothing lived there. Then tenant B creates a
resource whose root is "namespaces/orders": A's rule would now expire B's payloads. On A's next resync the
running operator removes A's own rule (never the hand-written foreign one) and says so with Conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devkit.cluster import Cluster
from devkit.dw_emulator import EmulatedServer
from devkit.operator_process import OperatorProcess
from devkit.services import S3Endpoint

from payload_operator.planning.bucket_rules import DesiredRule, ForeignRoot, Owner, RuleSet, plan_sync
from payload_operator.planning.rule_dialects import GcsDialect
from tests.drills.kube import apply, condition, eps, s3_secret, token_secret, wait_all
from tests.drills.storage import s3_bucket
from tests.lifecycle.benches import make_resource

FOREIGN = {"ID": "hand-written", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}}


def test_our_rule_over_a_root_that_appeared_later_is_removed_and_the_foreign_rule_stays(
    drill_cluster: Cluster,
    namespaces: Callable[[str], str],
    operator: OperatorProcess,
    dw_server: Callable[..., EmulatedServer],
    moto_s3: S3Endpoint,
) -> None:
    bucket = s3_bucket(moto_s3)
    bucket.client.put_bucket_lifecycle_configuration(Bucket=bucket.name, LifecycleConfiguration={"Rules": [FOREIGN]})
    server = dw_server(["orders"])
    block = {
        "bucket": bucket.name,
        "endpoint": moto_s3.url,
        "forcePathStyle": True,
        "credentialsSecretRef": {"name": "dw-s3"},
    }
    common: dict[str, Any] = {"url": server.url, "dw_namespaces": ["orders"], "driver": "s3", "s3": block}
    early, late = namespaces("early"), namespaces("late")
    lifecycle = {"tmpPrefixes": ["orders/"], "expirationDays": 1}
    apply(
        drill_cluster,
        token_secret(early),
        s3_secret(early),
        eps(early, "wide", prefix="namespaces", lifecycle=lifecycle, **common),
    )
    wait_all(drill_cluster, early, ["wide"], "LifecycleSynced", "True", "RulesApplied", 90)
    assert [r["Filter"]["Prefix"] for r in _rules(bucket.client, bucket.name)] == ["logs/", "namespaces/orders/"]

    apply(drill_cluster, token_secret(late), s3_secret(late), eps(late, "orders", prefix="namespaces/orders", **common))
    body = wait_all(drill_cluster, early, ["wide"], "LifecycleSynced", "False", "Conflict", 120)["wide"]
    message = condition(body, "LifecycleSynced")["message"]
    assert f"ExternalPayloadStorage {late}/orders" in message, message
    assert "removed our" in message, message
    assert _rules(bucket.client, bucket.name) == [FOREIGN]
    assert body["status"]["lifecycle"]["ownedRuleIds"] == []
    operator.assert_up()


def _rules(client: Any, bucket: str) -> list[Any]:
    try:
        return list(client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"])
    except client.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
            raise
        return []


def test_on_gcs_only_a_rule_our_label_names_is_withdrawn_never_an_unlabelled_one_on_the_same_prefix() -> None:
    """GCS rules carry no owner: our label proves a rule ours. An unlabelled rule that merely sits on the
    contested prefix is someone's hand-written rule and stays."""
    gcs, owner = GcsDialect(), Owner("early", "wide", "0a0a0a0a")
    spec = make_resource("gcs", {"bucket": "shared"}, prefix="namespaces", lifecycle={"tmpPrefixes": ["orders/"]}).spec
    ours = dict(gcs.encode(DesiredRule("namespaces/orders/", 10, 1), "namespaces/orders/", enabled=True) or {})
    labels = gcs.labels({}, owner, ["namespaces/orders/"])
    later = [ForeignRoot("ExternalPayloadStorage late/orders", "namespaces/orders/")]

    labelled = plan_sync(gcs, owner, spec, RuleSet((ours,), labels), later)
    assert [r.current for r in labelled.remove] == [ours]
    assert labelled.needs_write
    assert labelled.result == RuleSet((), {})

    hand_written = plan_sync(gcs, owner, spec, RuleSet((ours,)), later)
    assert not hand_written.needs_write
    assert hand_written.withdrawn
    assert hand_written.foreign == (ours,)
