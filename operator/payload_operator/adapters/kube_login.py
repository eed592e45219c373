"""How the operator and its Job pods log in to Kubernetes, and which file holds their bearer token.

Kopf's own logins read a token once. The file's path travels with the connection so that the operator's
client re-reads it (kube_auth.TokenFileAuth), and the same login, registered with Kopf, is re-run by Kopf
after a 401 on its own calls. Besides the pod's ServiceAccount token, a kubeconfig user's `tokenFile`
(client-go's field, which Kopf's kubeconfig login ignores) is honoured the same way.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import kopf

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
"""Where the kubelet mounts (and rotates) a pod's token; Kopf's service-account login reads the same path."""


@dataclass(frozen=True)
class Login:
    """Kopf's connection info, and the file its token came from (None: a static token or no token)."""

    connection: kopf.ConnectionInfo
    token_file: Path | None


def login(settings: kopf.OperatorSettings) -> Login | None:
    """The pod's ServiceAccount, else KUBECONFIG (or ~/.kube/config); None without either."""
    import kopf  # Job pods and the operator log in; one-off CLI runs never pay for importing the framework

    connection = kopf.login_with_service_account(settings=settings)
    if connection is not None:
        return Login(connection, SERVICE_ACCOUNT_TOKEN)
    connection = kopf.login_with_kubeconfig(settings=settings)
    if connection is None:
        return None
    token_file = kubeconfig_token_file()
    if token_file is None or connection.token:
        return Login(connection, None)  # a literal `token` wins over `tokenFile`, as in client-go
    return Login(dataclasses.replace(connection, token=token_file.read_text().strip()), token_file)


def kubeconfig_token_file() -> Path | None:
    """The current user's `tokenFile`, relative to its kubeconfig; files merged as Kopf and kubectl do."""
    paths = [Path(p).expanduser() for p in os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep) if p]
    current: str | None = None
    contexts: dict[str, Any] = {}
    users: dict[str, tuple[Path, Any]] = {}
    for path in paths:
        if not path.is_file():
            continue
        config = yaml.safe_load(path.read_text()) or {}
        current = current or config.get("current-context")
        for item in config.get("contexts") or []:
            contexts.setdefault(item["name"], item.get("context") or {})
        for item in config.get("users") or []:
            users.setdefault(item["name"], (path.parent, item.get("user") or {}))
    user_name = contexts.get(current or "", {}).get("user")
    if user_name not in users:
        return None
    directory, user = users[user_name]
    token_file = user.get("tokenFile")
    return directory / token_file if token_file else None
