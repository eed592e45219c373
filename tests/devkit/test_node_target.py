"""Which cluster the node suite uses, and why it skips when it cannot run there (kind is not on these machines)."""

from __future__ import annotations

from typing import Any

from devkit.node_target import NodeTarget, Skip, choose_node_target

BUILT = "payload-operator:dev"


def choose(**facts: Any) -> NodeTarget | Skip:
    defaults: dict[str, Any] = {
        "kubeconfig": "/home/me/.kube/config",
        "context": "kind-dev",
        "ready_nodes": 1,
        "image": "",
        "built_image": BUILT,
        "host_address": "",
        "kind_gateway": "172.18.0.1",
    }
    return choose_node_target(**(defaults | facts))


def test_without_kubeconfig_the_suite_starts_its_own_node_with_the_built_image() -> None:
    assert choose(kubeconfig=None, context="", ready_nodes=0, kind_gateway="") == NodeTarget("own", BUILT)


def test_on_kind_the_built_image_is_loaded_and_pods_reach_the_host_through_the_kind_gateway() -> None:
    assert choose() == NodeTarget("kind", BUILT, kind_name="dev", host_address="172.18.0.1")
    assert choose(host_address="192.168.5.2") == NodeTarget("kind", BUILT, kind_name="dev", host_address="192.168.5.2")


def test_another_cluster_needs_a_pullable_image_and_a_host_address() -> None:
    target = choose(context="prod-eu", image="registry.example/payload-operator:abc", host_address="10.0.0.5")
    assert target == NodeTarget("pull", "registry.example/payload-operator:abc", host_address="10.0.0.5")
    no_image = choose(context="prod-eu", host_address="10.0.0.5")
    assert isinstance(no_image, Skip)
    assert "not a kind cluster and IMAGE is not set" in no_image.reason
    no_address = choose(context="prod-eu", image="registry.example/payload-operator:abc")
    assert isinstance(no_address, Skip)
    assert "NODE_SUITE_HOST_ADDRESS" in no_address.reason


def test_image_on_kind_is_pulled_rather_than_built() -> None:
    assert choose(image="registry.example/po:abc") == NodeTarget(
        "pull", "registry.example/po:abc", host_address="172.18.0.1"
    )


def test_a_cluster_without_a_ready_node_or_a_kind_network_is_skipped_with_the_reason() -> None:
    no_node = choose(ready_nodes=0)
    assert isinstance(no_node, Skip)
    assert "no Ready node" in no_node.reason
    assert "kind-dev" in no_node.reason
    no_gateway = choose(kind_gateway="")
    assert isinstance(no_gateway, Skip)
    assert "kind" in no_gateway.reason
