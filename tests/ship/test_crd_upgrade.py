"""`helm upgrade` carries CRD changes; resources survive upgrades, uninstall and reinstall."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from devkit.cluster import Cluster
from devkit.waiting import wait_for

from tests.conftest import delete_namespace
from tests.e2e.conftest import GROUP_PATH
from tests.ship.chart import CHART, CRD_FILE, CRD_NAME, install, sync_chart_crd, uninstall, upgrade
from tests.ship.kube import apply, delete_crds, wait_established

RELEASE = "payload-operator"


def _resource(namespace: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "payloads.durable-workflow.io/v1alpha1",
        "kind": "ExternalPayloadStorage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "server": {
                "url": "http://dw.example:8080",
                "tokenSecretRef": {"name": "dw-admin"},
                "namespaces": ["orders"],
            },
            "driver": "local",
            "local": {"path": "/var/lib/dw-payloads"},
            "thresholdBytes": 4096,
            **extra,
        },
    }


def _next_chart_version(tmp_path: Path) -> Path:
    """The chart as a developer would change it: a new CRD field and printer column, regenerated, version bumped."""
    chart = tmp_path / "payload-operator"
    shutil.copytree(CHART, chart)
    crd = yaml.safe_load(CRD_FILE.read_text())
    version = crd["spec"]["versions"][0]
    version["additionalPrinterColumns"].insert(
        1, {"name": "Threshold", "type": "integer", "jsonPath": ".spec.thresholdBytes"}
    )
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["notes"] = {"type": "string", "maxLength": 256, "description": "Free text for people."}
    changed = tmp_path / "crd.yaml"
    changed.write_text(yaml.safe_dump(crd, sort_keys=False))
    (chart / "templates" / "crd.yaml").write_text(sync_chart_crd.render(changed))
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = "0.1.1"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return chart


def test_upgrade_updates_the_crd_and_keeps_resources(
    ship_cluster: Cluster, namespaces: Callable[[str], str], tmp_path: Path
) -> None:
    release_ns, apps = namespaces("payload-system"), namespaces("apps")
    try:
        install(ship_cluster, RELEASE, release_ns, {})
        wait_established(ship_cluster, CRD_NAME)
        apply(ship_cluster, [_resource(apps, "existing")])
        before = ship_cluster.api("GET", f"{GROUP_PATH}/namespaces/{apps}/externalpayloadstorages/existing")

        upgrade(ship_cluster, RELEASE, release_ns, {}, chart=_next_chart_version(tmp_path))

        def column_served() -> bool:
            table = ship_cluster.kubectl("get", "eps", "-n", apps).stdout
            return "THRESHOLD" in table and "4096" in table

        wait_for(column_served, 30, message="the upgraded CRD's printer column")
        after = ship_cluster.api("GET", f"{GROUP_PATH}/namespaces/{apps}/externalpayloadstorages/existing")
        assert after["spec"] == before["spec"], "the existing resource is still served, unchanged"
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        annotated = _resource(apps, "annotated", notes="owned by the payments team")
        # kubectl validates against the published OpenAPI schema, which follows a CRD change within seconds
        wait_for(lambda: apply(ship_cluster, [annotated]), 30, message="new field accepted")
        stored = ship_cluster.api("GET", f"{GROUP_PATH}/namespaces/{apps}/externalpayloadstorages/annotated")
        assert stored["spec"]["notes"] == "owned by the payments team", "the new field is in the schema, not pruned"

        uninstall(ship_cluster, RELEASE, release_ns)
        crd = ship_cluster.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        names = {
            i["metadata"]["name"]
            for i in ship_cluster.api("GET", f"{GROUP_PATH}/namespaces/{apps}/externalpayloadstorages")["items"]
        }
        assert names == {"existing", "annotated"}, "uninstall leaves the resources alone"

        install(ship_cluster, RELEASE, release_ns, {})  # reinstalling adopts the kept CRD
        assert ship_cluster.exists(f"{GROUP_PATH}/namespaces/{apps}/externalpayloadstorages/existing")
    finally:
        delete_namespace(ship_cluster, apps)
        uninstall(ship_cluster, RELEASE, release_ns)
        delete_crds(ship_cluster, CRD_NAME)
