"""Runner Job placement and pull settings: from the chart's runner.* values through OperatorConfig into every Job.

They are the admin's settings, not the tenant's: a resource can choose its own requests and limits
(spec.runner.resources, which wins) but not where its Jobs run or what they pull with.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
import yaml
from pydantic import ValidationError

from payload_operator.adapters.kube import KubeClient
from payload_operator.api.spec import RunnerResources
from payload_operator.core.config import OperatorConfig
from payload_operator.core.run_context import Shard
from payload_operator.scheduler import collect
from payload_operator.scheduler import job_manifest as jobs
from tests.runs.helpers import resource
from tests.ship.chart import CHART, operator_container, render, value_sets

DAY_TWO = value_sets()["day-two"]


def _config_from_chart(values: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> OperatorConfig:
    """The operator's settings as its pod would read them from the rendered Deployment."""
    for item in operator_container(render(values))["env"]:
        if item["name"].startswith("PAYLOAD_OPERATOR_JOB_"):
            monkeypatch.setenv(item["name"], item["value"])
    return OperatorConfig()


def _pod(config: OperatorConfig, **runner: Any) -> dict[str, Any]:
    job = jobs.job_manifest(
        resource(runner=runner) if runner else resource(),
        {},
        "integrity",
        "20260302-000000",
        Shard(0, 1),
        image="i",
        service_account="s",
        placement=config.job_placement(),
        default_resources=config.job_resources,
    )
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


def test_chart_values_place_every_job_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = DAY_TWO["runner"]
    pod = _pod(_config_from_chart(DAY_TWO, monkeypatch))
    assert pod["nodeSelector"] == runner["nodeSelector"]
    assert pod["tolerations"] == runner["tolerations"]
    assert pod["affinity"] == runner["affinity"]
    assert pod["imagePullSecrets"] == runner["imagePullSecrets"]
    assert pod["containers"][0]["resources"] == runner["resources"]


def test_a_resources_own_requests_and_limits_still_win(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config_from_chart(DAY_TWO, monkeypatch)
    own = {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}
    assert _pod(config, resources=own)["containers"][0]["resources"] == own
    only_cpu = _pod(config, resources={"limits": {"cpu": "1"}})["containers"][0]["resources"]
    assert only_cpu == {"limits": {"cpu": "1", "memory": "2Gi"}}, "the operator's memory limit fills the gap"


def test_nothing_set_leaves_the_pod_as_before() -> None:
    pod = _pod(OperatorConfig())
    assert not set(jobs.PLACEMENT_FIELDS) & set(pod)
    assert pod["containers"][0]["resources"] == jobs.DEFAULT_RESOURCES


def test_the_charts_default_resources_are_the_built_in_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    chart_default = yaml.safe_load((CHART / "values.yaml").read_text())["runner"]["resources"]
    assert chart_default == jobs.DEFAULT_RESOURCES
    assert _pod(_config_from_chart({}, monkeypatch))["containers"][0]["resources"] == jobs.DEFAULT_RESOURCES


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        ({"requests": {"memory": "512Mi"}}, {"requests": {"memory": "512Mi"}, "limits": {"memory": "512Mi"}}),
        ({"requests": {"cpu": "50m"}}, {"requests": {"cpu": "50m"}, "limits": {"memory": "1Gi"}}),
        ({"limits": {"memory": "3Gi"}}, {"limits": {"memory": "3Gi"}}),
    ],
)
def test_operator_defaults_never_leave_a_pod_without_a_memory_limit(
    defaults: dict[str, Any], expected: dict[str, Any]
) -> None:
    config = OperatorConfig(job_resources=RunnerResources.model_validate(defaults))
    assert _pod(config)["containers"][0]["resources"] == expected


def test_placement_sets_only_its_own_pod_fields() -> None:
    job = jobs.job_manifest(
        resource(),
        {},
        "retention",
        "r",
        Shard(),
        image="i",
        service_account="s",
        placement={"nodeSelector": {"disk": "ssd"}, "containers": [], "serviceAccountName": "other"},
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["serviceAccountName"] == "s"
    assert len(pod["containers"]) == 1


def test_bad_settings_stop_the_operator_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYLOAD_OPERATOR_JOB_IMAGE_PULL_SECRETS", '[{"nam": "regcred"}]')
    with pytest.raises(ValidationError):
        OperatorConfig()


class _Jobs:
    """The one KubeClient call start_jobs makes, recorded."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    async def create(self, api_version: str, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.created.append(body)
        return body


def test_start_jobs_hands_the_settings_to_every_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config_from_chart(DAY_TWO, monkeypatch)
    kube = _Jobs()
    asyncio.run(
        collect.start_jobs(
            cast(KubeClient, kube),
            resource(runner={"shards": 2}),
            {},
            "integrity",
            "r",
            image="i",
            service_account="s",
            placement=config.job_placement(),
            default_resources=config.job_resources,
        )
    )
    assert len(kube.created) == 2
    for job in kube.created:
        pod = job["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == DAY_TWO["runner"]["nodeSelector"]
        assert pod["containers"][0]["resources"] == DAY_TWO["runner"]["resources"]
