"""The plugin's only way to the cluster: the user's own `kubectl`, with their kubeconfig, context and RBAC.

Shelling out (rather than the operator's client) because a kubectl plugin runs where kubectl runs: it then
authenticates exactly as kubectl does (exec plugins, OIDC, client certificates, `KUBECONFIG` lists), needs
no client library, and can do nothing the user could not do with kubectl.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from payload_operator.api.spec import API_GROUP, PLURAL

RESOURCE = f"{PLURAL}.{API_GROUP}"
CALL_TIMEOUT_SECONDS = 60.0


class KubectlError(Exception):
    """kubectl failed; the message is its own (e.g. Forbidden, NotFound), which never holds a credential."""


@dataclass(frozen=True)
class Kubectl:
    """kubectl with the user's connection flags; `namespace` None means the context's namespace."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    binary: str = field(default_factory=lambda: os.environ.get("KUBECTL", "kubectl"))

    def _run(self, args: Sequence[str], *, namespaced: bool = True) -> str:
        argv = [self.binary]
        if self.kubeconfig:
            argv.append(f"--kubeconfig={self.kubeconfig}")
        if self.context:
            argv.append(f"--context={self.context}")
        if namespaced and self.namespace:
            argv.append(f"--namespace={self.namespace}")
        try:
            done = subprocess.run(
                [*argv, *args], capture_output=True, text=True, timeout=CALL_TIMEOUT_SECONDS, check=False
            )
        except FileNotFoundError as exc:
            raise KubectlError(f"{self.binary} not found (set KUBECTL or put kubectl on PATH)") from exc
        except subprocess.TimeoutExpired as exc:
            raise KubectlError(f"kubectl {args[0]} did not answer within {CALL_TIMEOUT_SECONDS:.0f}s") from exc
        if done.returncode != 0:
            raise KubectlError(done.stderr.strip() or f"kubectl {args[0]} exited {done.returncode}")
        return done.stdout

    def _json(self, args: Sequence[str], *, namespaced: bool = True) -> dict[str, Any]:
        text = self._run([*args, "-o", "json"], namespaced=namespaced)
        answer = json.loads(text) if text.strip() else {}
        if not isinstance(answer, dict):
            raise KubectlError(f"kubectl {args[0]} answered without a JSON object")
        return answer

    def resources(self, *, all_namespaces: bool = False) -> list[dict[str, Any]]:
        """Every ExternalPayloadStorage in the namespace, or in all of them."""
        args = ["get", RESOURCE, "--all-namespaces"] if all_namespaces else ["get", RESOURCE]
        body = self._json(args, namespaced=not all_namespaces)
        return [item for item in body.get("items") or [] if isinstance(item, dict)]

    def resource(self, name: str) -> dict[str, Any]:
        """One ExternalPayloadStorage."""
        return self._json(["get", RESOURCE, name])

    def annotate(self, name: str, key: str, value: str) -> None:
        """Set one annotation (patch rights on the resource, as `kubectl annotate` needs)."""
        self._run(["annotate", RESOURCE, name, f"{key}={value}", "--overwrite"])

    def jobs(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """The named Jobs that exist (reading them needs `get` on Jobs, which not every user has)."""
        body = self._json(["get", "jobs", *names, "--ignore-not-found"])
        items = body.get("items") if body.get("kind") == "List" else [body]
        return [item for item in items or [] if isinstance(item, dict)]
