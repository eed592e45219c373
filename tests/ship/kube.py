"""Cluster-side helpers of the shipping tests: namespaces, kubectl apply (dry-run or real), can-i, CRDs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from devkit.cluster import ApiError, Cluster
from devkit.naming import unique_name
from devkit.waiting import wait_for


def create_namespace(cluster: Cluster, prefix: str) -> str:
    """A fresh namespace."""
    name = unique_name(prefix)
    cluster.api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def apply(cluster: Cluster, docs: Iterable[Mapping[str, Any]], *, dry_run: bool = False) -> str:
    """`kubectl apply --server-side` of documents (with `--dry-run=server` when asked); returns kubectl's output.

    kubectl validates against the server's own OpenAPI schema first, so unknown or mistyped fields of the
    server's Kubernetes version fail here.
    """
    args = ["apply", "--server-side", "--field-manager=ship-tests", "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return cluster.kubectl(*args, input=yaml.safe_dump_all(list(docs))).stdout


def wait_established(cluster: Cluster, *crd_names: str) -> None:
    """Until the API server serves the CRDs."""
    cluster.wait_established(*crd_names)


def delete_crds(cluster: Cluster, *crd_names: str) -> None:
    """Delete CRDs (and with them every custom resource of theirs); wait until they are gone."""
    for name in crd_names:
        try:
            cluster.api("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        except ApiError as exc:
            if exc.status != 404:
                raise
    for name in crd_names:
        wait_for(
            lambda n=name: not cluster.exists(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{n}"),
            60,
            message=f"CRD {name} deleted",
        )


def can_i(
    cluster: Cluster, subject: str, verb: str, resource: str, namespace: str | None = None, subresource: str = ""
) -> bool:
    """`kubectl auth can-i <verb> <resource> --as=<subject> [-n namespace]`, as an admin would check it."""
    args = ["auth", "can-i", verb, resource, f"--as={subject}"]
    if subresource:
        args.append(f"--subresource={subresource}")
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    proc = cluster.kubectl(*args, check=False)
    answer = proc.stdout.strip()
    if answer not in ("yes", "no"):
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stdout!r} {proc.stderr!r}")
    return answer == "yes"


def service_account(namespace: str, name: str) -> str:
    """The user name a ServiceAccount authenticates as."""
    return f"system:serviceaccount:{namespace}:{name}"


def kustomize(path: str) -> list[dict[str, Any]]:
    """`kubectl kustomize <path>` (no cluster needed), parsed."""
    out = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True, check=True, timeout=60)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]
