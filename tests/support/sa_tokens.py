"""ServiceAccount tokens that can be revoked, and a token file rotated as the kubelet rotates it.

A token of a `kubernetes.io/service-account-token` Secret is valid while the Secret exists (the API
server looks it up), so deleting the Secret revokes it: the old token is refused from then on, which is
what an expired bound token looks like to a client.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import httpx
import yaml
from devkit.cluster import Cluster
from devkit.waiting import wait_for


def issue_token(cluster: Cluster, namespace: str, account: str) -> tuple[str, str]:
    """(Secret name, token) of a new token for `namespace/account` (the ServiceAccount is created if missing)."""
    cluster.ensure_serviceaccount(namespace, account)
    name = f"{account}-token-{secrets.token_hex(3)}"
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": account}},
            "type": "kubernetes.io/service-account-token",
        },
    )

    def token() -> str | None:
        data = cluster.api("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}").get("data") or {}
        return base64.b64decode(data["token"]).decode() if data.get("token") else None

    filled = wait_for(token, 60, message=f"the token controller fills Secret {namespace}/{name}")
    assert filled is not None
    return name, filled


def answers(cluster: Cluster, token: str) -> int:
    """The status the API server answers a request with `token` (401 once it is revoked)."""
    verify: str | bool = str(cluster.ca_cert) if cluster.ca_cert is not None else False
    return httpx.get(f"{cluster.server}/api", headers={"Authorization": f"Bearer {token}"}, verify=verify).status_code


def revoke(cluster: Cluster, namespace: str, secret: str, token: str) -> None:
    """Delete the token's Secret and wait until the API server refuses the token."""
    cluster.api("DELETE", f"/api/v1/namespaces/{namespace}/secrets/{secret}")
    wait_for(lambda: answers(cluster, token) == 401, 60, message="the revoked token is refused")


def write_token(path: Path, token: str) -> None:
    """Replace the file in one step (a new inode), as the kubelet swaps a projected volume's data."""
    staged = path.with_name(f".{path.name}.new")
    staged.write_text(token)
    os.replace(staged, path)


def token_file_kubeconfig(cluster: Cluster, name: str, token_file: Path) -> Path:
    """A kubeconfig for the cluster whose user has only `tokenFile` (client-go's field)."""
    path = cluster.write_kubeconfig(name, token="unused")
    config = yaml.safe_load(path.read_text())
    config["users"][0]["user"] = {"tokenFile": str(token_file)}
    path.write_text(yaml.safe_dump(config))
    return path
