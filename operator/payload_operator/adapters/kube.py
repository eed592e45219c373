"""A small async client for the few Kubernetes calls the operator makes besides Kopf's own.

Secrets are read by name at reconcile time (never cached, never copied into status) and only when they
consented (the label `CONSENT_LABEL`) or the admin pinned them; owned objects are written by server-side
apply only when they differ and never when someone else owns a same-named object; errors carry status
and reason but never object data. Every answer is read with a size cap and a deadline.

Why our own client and not a library (measured December 2026; docs/architecture.md has the figures): the
operator makes nine kinds of call. Importing the nearest fit, lightkube 1.0.1, costs +9 MiB RSS per
process over httpx alone (kr8s +19, kubernetes_asyncio +50; this client +2), paid by the operator and by
every Job pod, against a goal of 1,000 resources under 256 MiB. lightkube also brings a second HTTP stack
(httpx2 beside httpx), reads every answer whole without the cap and deadline of adapters/bounded.py, and
keeps inline client certs in temporary files while the client lives. What it would add, token-file
refresh and apply, is the few lines of kube_auth.py and `apply_owned`. The connections are aiohttp's
(aio_transport.py: about half the CPU per call of httpx's own transport).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import json
from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from payload_operator.adapters.bounded import NO_COMPRESSION, ResponseDeadline, ResponseTooLarge, bounded_request
from payload_operator.adapters.kube_auth import TokenFileAuth, ssl_context
from payload_operator.api.spec import API_GROUP
from payload_operator.core.secrets import SecretValues

CONSENT_LABEL = f"{API_GROUP}/consent"
"""A Secret the operator may read carries this label with the value "true" (or is pinned by the admin)."""
MAX_ANSWER_BYTES = 64 << 20
"""Largest API server answer read (a list of a namespace's labelled ConfigMaps is the largest we ask for)."""
CALL_DEADLINE_SECONDS = 60.0
WATCH_SECONDS = 290
"""How long one watch request lasts before the API server ends it (and the watcher asks again)."""
MAX_CONNECTIONS = 24
"""Connections to the API server at once. Each TLS connection holds asyncio's 256 KiB read buffer (a hundred,
aiohttp's default, would be 25 MiB); the reconcile slots (20 by default), the shard slots and the claims watch
rarely need more, and a call beyond waits for a free connection."""
FIELD_MANAGER = "payload-operator"
"""Who owns the fields the operator writes (server-side apply's `fieldManager`)."""


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


def _carries(current: dict[str, Any], meta: dict[str, Any]) -> bool:
    """Whether `current` already has every label and annotation of `meta` (others may add their own)."""
    have = current.get("metadata") or {}
    return all(
        all((have.get(kind) or {}).get(k) == v for k, v in (meta.get(kind) or {}).items())
        for kind in ("labels", "annotations")
    )


def _watch_event(path: str, line: bytes) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise KubeError(f"WATCH {path}: malformed event") from exc
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        raise KubeError(f"WATCH {path}: malformed event")
    return event


def _path(api_version: str, plural: str, namespace: str | None, name: str | None = None, sub: str = "") -> str:
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    ns = f"/namespaces/{namespace}" if namespace else ""
    return f"{root}{ns}/{plural}" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


_PASS_SECRETS: contextvars.ContextVar[dict[tuple[str, str], SecretValues] | None] = contextvars.ContextVar(
    "pass_secrets", default=None
)


@contextlib.contextmanager
def one_read_per_secret() -> Iterator[None]:
    """Within this block (one reconcile pass and the tasks it starts), each Secret is read once.

    A resync of an S3 resource needs its credentials Secret twice (the published server env, the lifecycle
    rules); each read is an API call costing milliseconds of CPU, and a fleet resyncs several resources every
    second. Refusals (missing, not consented) are not remembered: they are read again."""
    token = _PASS_SECRETS.set({})
    try:
        yield
    finally:
        _PASS_SECRETS.reset(token)


class KubeClient:
    """Authenticated REST calls against one API server."""

    def __init__(self, client: httpx.AsyncClient, *, pinned_secrets: Collection[str] = ()) -> None:
        self._client = client
        self.pinned_secrets = frozenset(pinned_secrets)
        """"namespace/name" of Secrets the admin allows without the consent label."""

    @classmethod
    def from_connection(
        cls, info: Any, *, token_file: Path | None = None, pinned_secrets: Collection[str] = ()
    ) -> KubeClient:
        """Build from a Kopf ConnectionInfo (kubeconfig, in-cluster service account, ...).

        With `token_file` (kube_login.Login.token_file) the token is re-read whenever the file changes.
        """
        headers = {"Accept": "application/json", "User-Agent": "payload-operator"}
        auth: httpx.Auth | None = None
        if token_file is not None:
            auth = TokenFileAuth(token_file, info.scheme or "Bearer")
        elif info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        elif info.username and info.password:
            auth = httpx.BasicAuth(info.username, info.password)
        verify = ssl_context(info)
        from payload_operator.adapters.aio_transport import AiohttpTransport  # see aio_transport: imported on use

        transport = AiohttpTransport(verify=verify, max_connections=MAX_CONNECTIONS)
        client = httpx.AsyncClient(
            base_url=info.server, headers=headers, auth=auth, verify=verify, timeout=30.0, transport=transport
        )
        return cls(client, pinned_secrets=pinned_secrets)

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
        """The decoded data of a Secret that consented (or was pinned); values that are not text are left out.

        Inside `one_read_per_secret`, a Secret read once is not read again."""
        shared = _PASS_SECRETS.get()
        if shared is not None and (namespace, name) in shared:
            return shared[namespace, name]
        values = await self._read_secret(namespace, name)
        if shared is not None:
            shared[namespace, name] = values
        return values

    async def _read_secret(self, namespace: str, name: str) -> SecretValues:
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
        """Server-side apply `obj` when it is missing or its compared fields, labels or annotations differ; True
        when written.

        A same-named object that does not list `obj`'s owner among its owner references is someone
        else's: it raises ObjectNotOwned and stays as it is. Apply (fieldManager FIELD_MANAGER, forced: the
        object is ours) drops a key we no longer publish and keeps fields other managers added; the read
        object's UID goes with it, so an object replaced meanwhile is refused (409), never overwritten.
        Kubernetes has no create-only apply: a same-named object made between our read and our apply of a
        new one would be applied to, a window of one round trip.
        """
        meta = obj["metadata"]
        plural = {"Secret": "secrets", "ConfigMap": "configmaps"}[obj["kind"]]
        path = _path(obj["apiVersion"], plural, meta["namespace"], meta["name"])
        try:
            current: dict[str, Any] | None = await self.call("GET", path)
        except KubeNotFound:
            current = None
        if current is not None:
            if not owned_by(current, meta["ownerReferences"][0]["uid"]):
                raise ObjectNotOwned(
                    f"{obj['kind']} {meta['namespace']}/{meta['name']} exists and is not owned by this resource; "
                    "left untouched: delete or rename it"
                )
            if all(current.get(field) == obj.get(field) for field in compare) and _carries(current, meta):
                return False
            obj = obj | {"metadata": meta | {"uid": current["metadata"]["uid"]}}
        await self.call(
            "PATCH",
            path,
            body=obj,
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type="application/apply-patch+yaml",  # JSON is YAML
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

    async def watch(self, path: str, resource_version: str) -> AsyncIterator[dict[str, Any]]:
        """The watch events of a collection after `resource_version`, until the API server ends the request.

        Each event line is read with the answer cap (a runaway line is abandoned, not buffered); a line that is
        not an event object ends the watch with KubeError, as does an error status or a broken connection."""
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        timeout = httpx.Timeout(30.0, read=WATCH_SECONDS + 30.0)
        try:
            async with self._client.stream(
                "GET", path, params=params, headers=NO_COMPRESSION, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    raise KubeError(f"WATCH {path}: HTTP {response.status_code}", response.status_code)
                pending = b""
                async for chunk in response.aiter_bytes():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    if len(pending) > MAX_ANSWER_BYTES:
                        raise KubeError(f"WATCH {path}: {ResponseTooLarge(MAX_ANSWER_BYTES)}")
                    for line in lines:
                        if line.strip():
                            yield _watch_event(path, line)
        except httpx.TransportError as exc:
            raise KubeError(f"WATCH {path}: {type(exc).__name__}") from exc

    async def create(self, api_version: str, plural: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create one object (a Job: created once, never re-applied, its pod template being immutable)."""
        return await self.call(
            "POST", _path(api_version, plural, namespace), body=obj, params={"fieldManager": FIELD_MANAGER}
        )
