"""Where the node suite runs: the one-node cluster it starts itself, or a user's cluster through KUBECONFIG.

A user's cluster must have a Ready node and a way to run the image of this commit: on kind (current context
`kind-<name>`) the suite builds it and loads it with `kind load docker-image`; elsewhere `IMAGE` names an image
its nodes can pull. Pods must also reach servers on this host (the emulator, moto, RGW): on kind through the
gateway of the `kind` Docker network, elsewhere through `NODE_SUITE_HOST_ADDRESS`. Anything less is a skip
with the reason, never a half-run suite.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from devkit.cluster import external_kubeconfig, find_kubectl

KIND_CONTEXT_PREFIX = "kind-"


@dataclass(frozen=True)
class NodeTarget:
    """The cluster the node suite uses and how its pods get the operator image."""

    cluster: Literal["own", "kind", "pull"]
    """own: the suite's node (devkit/node.py); kind: a kind cluster, image loaded; pull: nodes pull `image`."""
    image: str
    """The image reference of the operator and its Jobs."""
    kind_name: str = ""
    """The kind cluster to load the image into (`kind load docker-image --name`)."""
    host_address: str = ""
    """An address of this host that pods reach (user clusters; the own node uses its bridge)."""


@dataclass(frozen=True)
class Skip:
    reason: str


def choose_node_target(
    *,
    kubeconfig: str | None,
    context: str,
    ready_nodes: int,
    image: str,
    built_image: str,
    host_address: str,
    kind_gateway: str,
) -> NodeTarget | Skip:
    """The target for these facts: KUBECONFIG (None: the suite's own node), its current context, how many
    Ready nodes it has, the IMAGE and NODE_SUITE_HOST_ADDRESS variables ("" when unset), the image the suite
    builds, and the `kind` network's gateway ("" when there is none)."""
    if not kubeconfig:
        return NodeTarget("own", built_image)
    where = f"KUBECONFIG's cluster (context {context or '<none>'})"
    if ready_nodes < 1:
        return Skip(f"{where} has no Ready node: the node suite runs Pods and Jobs")
    on_kind = context.startswith(KIND_CONTEXT_PREFIX)
    if image:
        address = host_address or (kind_gateway if on_kind else "")
        if not address:
            return Skip(f"{where}: set NODE_SUITE_HOST_ADDRESS to an address of this host that its pods reach")
        return NodeTarget("pull", image, host_address=address)
    if not on_kind:
        return Skip(
            f"{where} is not a kind cluster and IMAGE is not set: set IMAGE to an image of this commit that its "
            "nodes can pull (and NODE_SUITE_HOST_ADDRESS), or use kind"
        )
    address = host_address or kind_gateway
    if not address:
        return Skip(f"{where}: no 'kind' Docker network gateway found; set NODE_SUITE_HOST_ADDRESS")
    return NodeTarget("kind", built_image, kind_name=context.removeprefix(KIND_CONTEXT_PREFIX), host_address=address)


def current_node_target(built_image: str) -> NodeTarget | Skip:
    """The target for this machine: KUBECONFIG, its context and nodes, IMAGE, NODE_SUITE_HOST_ADDRESS, kind."""
    kubeconfig = external_kubeconfig()
    if not kubeconfig:
        return NodeTarget("own", built_image)
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    kubectl = find_kubectl()
    nodes = json.loads(_output([kubectl, "get", "nodes", "-o", "json"], env) or "{}").get("items", [])
    gateways = _output(
        ["docker", "network", "inspect", "kind", "-f", "{{range .IPAM.Config}}{{println .Gateway}}{{end}}"]
    )
    return choose_node_target(
        kubeconfig=kubeconfig,
        context=_output([kubectl, "config", "current-context"], env).strip(),
        ready_nodes=sum(1 for node in nodes if _ready(node)),
        image=os.environ.get("IMAGE", ""),
        built_image=built_image,
        host_address=os.environ.get("NODE_SUITE_HOST_ADDRESS", ""),
        kind_gateway=next((line for line in gateways.split() if line.count(".") == 3), ""),
    )


def _ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _output(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """A command's stdout; "" when it is missing or fails (a fact we could not learn)."""
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout
