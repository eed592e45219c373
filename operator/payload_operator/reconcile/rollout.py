"""Restart the Deployments a resource names (spec.publish.restartDeployments) when what it publishes changes.

Running pods never see a changed `envFrom` Secret, so they need new pods. The operator sets the published
content hash and a restart time on each Deployment's pod template, as `kubectl rollout restart` does; a
Deployment whose template already carries the hash is left alone, so every pass may call this. Only
Deployments in the resource's own namespace, and only where the admin granted the operator `patch` on
Deployments (chart value rbac.restartDeploymentsNamespaces): elsewhere the call is refused (Forbidden).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from payload_operator.adapters.kube import KubeClient, KubeError, KubeForbidden, KubeNotFound
from payload_operator.api.spec import API_GROUP
from payload_operator.core.timefmt import format_time
from payload_operator.reconcile.published import CONTENT_HASH_ANNOTATION as HASH_ANNOTATION

RESTARTED_AT_ANNOTATION = f"{API_GROUP}/restartedAt"


class RestartFailed(KubeError):
    """A named Deployment could not be restarted: missing, or the operator may not patch it."""

    reason = "DeploymentRestartFailed"


async def restart_on_change(kube: KubeClient, namespace: str, names: Sequence[str], content_hash: str) -> list[str]:
    """Roll each named Deployment whose pod template lacks `content_hash`; the names now on it."""
    for name in names:
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        try:
            deployment = await kube.call("GET", path)
            template = deployment.get("spec", {}).get("template", {}).get("metadata") or {}
            if (template.get("annotations") or {}).get(HASH_ANNOTATION) == content_hash:
                continue
            annotations = {HASH_ANNOTATION: content_hash, RESTARTED_AT_ANNOTATION: format_time(datetime.now(UTC))}
            patch = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
            await kube.call("PATCH", path, body=patch, content_type="application/merge-patch+json")
        except KubeNotFound as exc:
            raise RestartFailed(f"Deployment {namespace}/{name} (spec.publish.restartDeployments) not found") from exc
        except KubeForbidden as exc:
            raise RestartFailed(
                f"Deployment {namespace}/{name}: the operator may not patch Deployments in {namespace} "
                "(the admin allows it with the chart value rbac.restartDeploymentsNamespaces)"
            ) from exc
    return list(names)
