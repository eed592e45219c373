"""Run the operator's lifecycle pass for some resources in a fresh process, as the running operator would.

    python -m tests.drills.tenancy_probe '{"policy": {...}, "bodies": [...]}'

Prints one JSON line per resource: the LifecycleSynced condition. A fresh process because the provider SDKs
read their ambient-identity settings (GCE_METADATA_HOST, IDENTITY_ENDPOINT, ...) once, at import. Kubernetes
is a stand-in that holds no other resources and no Secrets: these resources use ambient credentials only.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, cast

from payload_operator.adapters.kube import KubeClient
from payload_operator.adapters.tenancy import Admission
from payload_operator.api.resource import resource_from_body
from payload_operator.planning.tenancy import TenantPolicy
from payload_operator.reconcile.lifecycle import reconcile_lifecycle


class _EmptyCluster:
    async def call(self, method: str, path: str) -> dict[str, Any]:
        return {"items": []}


async def _main(document: dict[str, Any]) -> None:
    admission = Admission(TenantPolicy.model_validate(document["policy"]))
    kube = cast(KubeClient, _EmptyCluster())
    for body in document["bodies"]:
        done = await reconcile_lifecycle(
            kube, resource_from_body(body), {}, spec_changed=True, sweep=True, admission=admission
        )
        condition = done.change.conditions[0] if done is not None else None
        print(json.dumps({"name": body["metadata"]["name"], "reason": condition and condition.reason}), flush=True)


if __name__ == "__main__":
    asyncio.run(_main(json.loads(sys.argv[1])))
