"""A small async client for the few Kubernetes calls the operator makes besides Kopf's own.

Secrets are read by name at reconcile time (never cached, never copied into status) and only when they
consented (the label `CONSENT_LABEL`) or the admin pinned them; owned objects are written only when they
differ and never when someone else owns a same-named object; errors carry status and reason but never
object data. Every answer is read with a size cap and a deadline.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import ssl
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import httpx

from payload_operator.adapters.bounded import ResponseDeadline, ResponseTooLarge, bounded_request
from payload_operator.api.spec import API_GROUP
from payload_operator.core.secrets import SecretValues

CONSENT_LABEL = f"{API_GROUP}/consent"
"""A Secret the operator may read carries this label with the value "true" (or is pinned by the admin)."""
MAX_ANSWER_BYTES = 64 << 20
"""Largest API server answer read (a list of a namespace's labelled ConfigMaps is the largest we ask for)."""
CALL_DEADLINE_SECONDS = 60.0


class KubeError(Exception):
    """A failed API call."""

    reason = "KubeApiError"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class KubeNotFound(KubeError):
    """404."""

    reason = "NotFound"


class KubeForbidden(KubeError):
    """403: RBAC does not allow the call."""

    reason = "Forbidden"


class KubeConflict(KubeError):
    """409."""

    reason = "Conflict"


class SecretNotFound(KubeError):
    """The referenced Secret does not exist."""

    reason = "SecretNotFound"


class SecretKeyMissing(KubeError):
    """The referenced Secret lacks the key."""

    reason = "SecretKeyMissing"


class SecretValueNotText(KubeError):
    """The key's value is not UTF-8 text (a token or credential never is binary)."""

    reason = "SecretValueNotText"


class SecretNotConsented(KubeError):
    """The Secret exists but neither carries the consent label nor is pinned by the admin."""

    reason = "SecretConsentMissing"


class ObjectNotOwned(KubeError):
    """A same-named object exists that this resource does not own: it is left untouched."""

    reason = "ObjectNotOwned"


def consent_hint(namespace: str, name: str) -> str:
    """How to give consent, for condition messages (docs/upgrading.md says the same)."""
    return (
        f"Secret {namespace}/{name} has not consented to use by payload-operator: "
        f"kubectl label secret -n {namespace} {name} {CONSENT_LABEL}=true "
        "(or have the admin pin it: secrets.pinned in the chart)"
    )


def decode_values(data: Mapping[str, Any]) -> tuple[dict[str, str], frozenset[str]]:
    """A Secret's data decoded key by key: (text values, keys whose value is not base64 of UTF-8 text)."""
    text: dict[str, str] = {}
    binary: set[str] = set()
    for key, value in data.items():
        try:
            text[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            binary.add(str(key))
    return text, frozenset(binary)


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    """Whether `obj` lists `uid` among its owner references."""
    references = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(ref, dict) and ref.get("uid") == uid for ref in references)


def _write_temp(data: str | bytes, suffix: str) -> str:
    raw = base64.b64decode(data) if isinstance(data, str) else data
    handle = tempfile.NamedTemporaryFile(prefix="payload-operator-", suffix=suffix, delete=False)  # noqa: SIM115
    with handle:
        handle.write(raw)
    Path(handle.name).chmod(0o600)
    return handle.name


def _ssl_context(info: Any) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context(cafile=info.ca_path if info.ca_path else None)
    if info.ca_data:
        context.load_verify_locations(cadata=base64.b64decode(info.ca_data).decode())
    cert = info.certificate_path or (info.certificate_data and _write_temp(info.certificate_data, ".crt"))
    key = info.private_key_path or (info.private_key_data and _write_temp(info.private_key_data, ".key"))
    if cert:
        context.load_cert_chain(cert, key)
    return context


def _path(api_version: str, plural: str, namespace: str | None, name: str | None = None, sub: str = "") -> str:
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    ns = f"/namespaces/{namespace}" if namespace else ""
    return f"{root}{ns}/{plural}" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


class KubeClient:
    """Authenticated REST calls against one API server."""

    def __init__(self, client: httpx.AsyncClient, *, pinned_secrets: Collection[str] = ()) -> None:
        self._client = client
        self.pinned_secrets = frozenset(pinned_secrets)
        """"namespace/name" of Secrets the admin allows without the consent label."""

    @classmethod
    def from_connection(cls, info: Any, *, pinned_secrets: Collection[str] = ()) -> KubeClient:
        """Build from a Kopf ConnectionInfo (kubeconfig, in-cluster service account, ...)."""
        headers = {"Accept": "application/json", "User-Agent": "payload-operator"}
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        auth = httpx.BasicAuth(info.username, info.password) if info.username and info.password else None
        return cls(
            httpx.AsyncClient(
                base_url=info.server, headers=headers, auth=auth, verify=_ssl_context(info), timeout=30.0
            ),
            pinned_secrets=pinned_secrets,
        )

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One API call; typed errors by status."""
        headers = {"Content-Type": content_type} if body is not None else {}
        try:
            response = await bounded_request(
                self._client,
                method,
                path,
                limit=MAX_ANSWER_BYTES,
                deadline=CALL_DEADLINE_SECONDS,
                json=body,
                params=params,
                headers=headers,
            )
        except (httpx.TransportError, ResponseTooLarge, ResponseDeadline) as exc:
            raise KubeError(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            message = f"{method} {path}: HTTP {response.status_code}"
            with contextlib.suppress(ValueError, AttributeError):
                message += f" {json.loads(response.content).get('reason', '')}"
            error = {404: KubeNotFound, 403: KubeForbidden, 409: KubeConflict}.get(response.status_code, KubeError)
            raise error(message, response.status_code)
        try:
            result = json.loads(response.content) if response.content else {}
        except ValueError as exc:
            raise KubeError(f"{method} {path}: HTTP {response.status_code} with malformed JSON") from exc
        if not isinstance(result, dict):
            raise KubeError(f"{method} {path}: HTTP {response.status_code} without a JSON object")
        return result

    async def read_secret(self, namespace: str, name: str) -> SecretValues:
        """The decoded data of a Secret that consented (or was pinned); values that are not text are left out."""
        try:
            secret = await self.call("GET", _path("v1", "secrets", namespace, name))
        except KubeNotFound as exc:
            raise SecretNotFound(f"Secret {namespace}/{name} not found", 404) from exc
        labels = (secret.get("metadata") or {}).get("labels") or {}
        if labels.get(CONSENT_LABEL) != "true" and f"{namespace}/{name}" not in self.pinned_secrets:
            raise SecretNotConsented(consent_hint(namespace, name))
        data = secret.get("data") or {}
        text, binary = decode_values(data if isinstance(data, dict) else {})
        return SecretValues(f"{namespace}/{name}", text, not_text=binary)

    async def read_secret_key(self, namespace: str, name: str, key: str) -> str:
        """One value of a Secret."""
        values = await self.read_secret(namespace, name)
        if key in values.not_text:
            raise SecretValueNotText(f"Secret {namespace}/{name} key {key!r} is not base64 of UTF-8 text")
        if not values.get(key):
            raise SecretKeyMissing(f"Secret {namespace}/{name} has no key {key!r}")
        return values[key]

    async def apply_owned(self, obj: dict[str, Any], *, compare: tuple[str, ...] = ("data",)) -> bool:
        """Create `obj`, or patch it when the compared fields or labels differ; True when written.

        A same-named object that does not list `obj`'s owner among its owner references is someone
        else's: it raises ObjectNotOwned and stays as it is.
        """
        meta = obj["metadata"]
        plural = {"Secret": "secrets", "ConfigMap": "configmaps"}[obj["kind"]]
        collection = _path(obj["apiVersion"], plural, meta["namespace"])
        try:
            current = await self.call("GET", f"{collection}/{meta['name']}")
        except KubeNotFound:
            await self.call("POST", collection, body=obj)
            return True
        owner_uid = meta["ownerReferences"][0]["uid"]
        if not owned_by(current, owner_uid):
            raise ObjectNotOwned(
                f"{obj['kind']} {meta['namespace']}/{meta['name']} exists and is not owned by this resource; "
                "left untouched: delete or rename it"
            )
        wanted_labels = meta.get("labels") or {}
        current_labels = current.get("metadata", {}).get("labels") or {}
        same = all(current.get(field) == obj.get(field) for field in compare) and all(
            current_labels.get(k) == v for k, v in wanted_labels.items()
        )
        if same:
            return False
        patch = {field: obj.get(field) for field in compare} | {"metadata": {"labels": wanted_labels}}
        await self.call(
            "PATCH", f"{collection}/{meta['name']}", body=patch, content_type="application/merge-patch+json"
        )
        return True

    async def delete(
        self, api_version: str, plural: str, namespace: str, name: str, propagation: str = "Background"
    ) -> bool:
        """Delete one object; False when it was already gone."""
        try:
            await self.call(
                "DELETE", _path(api_version, plural, namespace, name), body={"propagationPolicy": propagation}
            )
        except KubeNotFound:
            return False
        return True

    async def list(self, api_version: str, plural: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """Objects of a kind in a namespace matching a label selector."""
        body = await self.call("GET", _path(api_version, plural, namespace), params={"labelSelector": label_selector})
        return [item for item in body.get("items") or [] if isinstance(item, dict)]

    async def create(self, api_version: str, plural: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create one object."""
        return await self.call("POST", _path(api_version, plural, namespace), body=obj)
