"""A tenant as the chart's users are: a ServiceAccount with only the built-in `edit` role in one namespace.

`edit` is an aggregated role; the test control planes run no aggregation controller, so the roles that
aggregate into it (Kubernetes' own and the chart's ExternalPayloadStorage rights) are bound directly, which
is what the aggregation amounts to for the authorizer.
"""

from __future__ import annotations

import dataclasses

from devkit.cluster import Cluster

from tests.ship.chart import render
from tests.support.operator_fixtures import apply

TENANT = "tenant"
CHART_ROLES = ("payload-operator-view", "payload-operator-edit")


def edit_tenant(cluster: Cluster, namespace: str) -> Cluster:
    """The cluster as seen by ServiceAccount `tenant` of `namespace`, with `edit` there and nothing else."""
    roles = ["system:aggregate-to-edit", "system:aggregate-to-view"]
    for doc in render():
        if doc.kind == "ClusterRole" and doc.name in CHART_ROLES:
            apply(cluster, doc.body)
            roles.append(doc.name)
    cluster.ensure_serviceaccount(namespace, TENANT)
    for role in roles:
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{TENANT}-{role.replace(':', '-')}", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": TENANT, "namespace": namespace}],
        }
        apply(cluster, binding)
    return dataclasses.replace(cluster, kubeconfig=cluster.serviceaccount_kubeconfig(namespace, TENANT))


def can_i(as_whom: Cluster, *args: str) -> bool:
    """`kubectl auth can-i` with that cluster view's credentials."""
    return as_whom.kubectl("auth", "can-i", *args, check=False).stdout.strip() == "yes"
