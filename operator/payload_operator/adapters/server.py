"""HTTP client of the Durable Workflow server's control plane (raw httpx, typed errors).

Raw HTTP on purpose: SDK 2.x resolves every payload reference it sees, which would download every
large payload during a history walk and hide the references we need (contract §6.8).
Error messages are built from status codes and the server's `reason`, never from request headers,
so the bearer token cannot leak into conditions, Events or logs; a server (or a proxy's error page)
that echoes the token back has it redacted from errors, and a successful answer carrying it is refused.
Every answer is read with a size cap and a total deadline (`bounded.py`): the URL is the user's choice.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from payload_operator.adapters.bounded import BoundedResponse, ResponseDeadline, ResponseTooLarge, bounded_request
from payload_operator.adapters.peer_check import PeerCheck
from payload_operator.adapters.tenancy import TenantPolicyDenied
from payload_operator.api.spec import ServerSpec

CONTROL_PLANE_VERSION = "2"
MAX_ERROR_TEXT = 300
REDACTED = "[redacted]"
MIN_REDACTED_LENGTH = 8  # shorter tokens would match by coincidence (tests, misconfigurations)
CONTROL_PLANE_MAX_BYTES = 1 << 20
"""Largest control-plane answer (namespace, policy, storage test, retention status): real ones are a few KiB."""
MAX_CONNECTIONS = 16
"""Connections to one server at once, per client (a resource's pass, a run)."""
PAGE_MAX_BYTES = 16 << 20
"""Largest page of workflows or history (a history page may inline payloads up to the threshold)."""


class ServerError(Exception):
    """A failed call; `reason` is one CamelCase word for conditions, metrics and backoff."""

    reason = "ServerError"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        server_reason: str | None = None,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.server_reason = server_reason
        self.retry_after = retry_after
        self.details = dict(details or {})


class ServerUnreachable(ServerError):
    """No HTTP answer: connection refused, DNS failure or timeout."""

    reason = "ServerUnreachable"


class Unauthorized(ServerError):
    """401: the token was refused."""

    reason = "Unauthorized"
    retryable = False


class Forbidden(ServerError):
    """403: the token's role may not call this route (an admin token is needed)."""

    reason = "Forbidden"
    retryable = False


class NamespaceNotFound(ServerError):
    """404 namespace_not_found."""

    reason = "NamespaceNotFound"
    retryable = False


class NotFound(ServerError):
    """Any other 404."""

    reason = "NotFound"
    retryable = False


class ValidationFailed(ServerError):
    """422: the server refused the request body; `details` holds its field errors."""

    reason = "ValidationFailed"
    retryable = False


class Throttled(ServerError):
    """429: slow down, honouring Retry-After."""

    reason = "Throttled"


class ServerFailure(ServerError):
    """5xx."""

    reason = "ServerFailure"


class BadResponse(ServerError):
    """An answer that is not the JSON the contract promises (wrong content type, malformed, truncated)."""

    reason = "BadResponse"


class InvalidCaBundle(ServerError):
    """spec.server.caBundleRef names something that is not a PEM bundle of CA certificates."""

    reason = "InvalidCaBundle"
    retryable = False


def tls_verify(ca_bundle: str | None) -> ssl.SSLContext:
    """What the server's certificate is checked against: the resource's own CA bundle, else the system's.

    Contexts are built once and shared by every client: loading a CA store costs about 30 ms of CPU, which
    each resync paid when every ServerClient built its own (httpx's `verify=True` loads certifi's store)."""
    if not ca_bundle:
        from payload_operator.adapters.aio_transport import system_trust  # see aio_transport: imported on use

        return system_trust()
    try:
        return _bundle_trust(ca_bundle)
    except (ssl.SSLError, ValueError):  # never echo the parser's text: it may quote the bundle
        raise InvalidCaBundle("spec.server.caBundleRef: not a PEM bundle of CA certificates") from None


@functools.lru_cache(maxsize=64)
def _bundle_trust(ca_bundle: str) -> ssl.SSLContext:
    """A context trusting only `ca_bundle` (public certificates, so it may key a cache); a failure is not cached."""
    return ssl.create_default_context(cadata=ca_bundle)


class ResponseTooBig(BadResponse):
    """An answer beyond the size cap: abandoned unread, so a hostile or broken server cannot exhaust memory."""

    reason = "ResponseTooLarge"


class PeerRefused(ServerError):
    """The connection reached an address the tenant policy refuses (the name resolved elsewhere when checked)."""

    reason = "TenantPolicyDenied"
    retryable = False


def segment(value: str) -> str:
    """One path segment, percent-encoded whole: a name like `..`, `a/b` or `x?y` stays inside its segment."""
    return quote(value, safe="").replace(".", "%2E") if value in (".", "..") else quote(value, safe="")


def _retry_after(response: BoundedResponse) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_for(response: BoundedResponse, body: Any, secret: str = "") -> ServerError:
    status = response.status_code
    server_reason = body.get("reason") if isinstance(body, dict) else None
    text = body.get("message") if isinstance(body, dict) else None
    summary = f"HTTP {status}" + (f" {server_reason}" if server_reason else "") + (f": {text}" if text else "")
    if secret:  # before cutting, so no prefix of the secret survives either
        summary = summary.replace(secret, REDACTED)
        server_reason = server_reason.replace(secret, REDACTED) if isinstance(server_reason, str) else server_reason
    summary = summary[:MAX_ERROR_TEXT]
    kwargs: dict[str, Any] = {"status": status, "server_reason": server_reason}
    if status == 401:
        return Unauthorized(summary, **kwargs)
    if status == 403:
        return Forbidden(summary, **kwargs)
    if status == 404:
        cls = NamespaceNotFound if server_reason == "namespace_not_found" else NotFound
        return cls(summary, **kwargs)
    if status == 422:
        errors = body.get("errors") if isinstance(body, dict) else None
        return ValidationFailed(summary, details=errors if isinstance(errors, dict) else None, **kwargs)
    if status == 429:
        return Throttled(summary, retry_after=_retry_after(response), **kwargs)
    if status >= 500:
        return ServerFailure(summary, retry_after=_retry_after(response), **kwargs)
    return ServerError(summary, **kwargs)


class ServerClient:
    """One server, one admin token; namespace chosen per call through X-Namespace."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        peer_check: PeerCheck | None = None,
    ) -> None:
        """`peer_check` judges every connection by the address it goes to, before the token is sent."""
        self._secret = token if len(token) >= MIN_REDACTED_LENGTH else ""
        self._deadline = timeout
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=8)
        if transport is None:
            from payload_operator.adapters.aio_transport import AiohttpTransport  # see aio_transport: imported on use

            transport = AiohttpTransport(verify=verify, max_connections=MAX_CONNECTIONS, peer_check=peer_check)
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            verify=verify,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "X-Durable-Workflow-Control-Plane-Version": CONTROL_PLANE_VERSION,
                "User-Agent": "payload-operator",
            },
            limits=limits,
        )

    @classmethod
    def for_server(
        cls, server: ServerSpec, token: str, ca_bundle: str | None = None, *, peer_check: PeerCheck | None = None
    ) -> ServerClient:
        """The client of a resource's spec.server: its URL, timeout and, when it names one, CA bundle."""
        return cls(
            server.url,
            token,
            timeout=server.request_timeout_seconds,
            verify=tls_verify(ca_bundle),
            peer_check=peer_check,
        )

    async def __aenter__(self) -> ServerClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        namespace: str | None = None,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        accept_statuses: tuple[int, ...] = (200, 201, 207),
        max_bytes: int = CONTROL_PLANE_MAX_BYTES,
    ) -> tuple[int, dict[str, Any]]:
        """Send one call and return (status, parsed JSON); raise a typed ServerError otherwise.

        The answer is at most `max_bytes` and complete within the request timeout, or the call fails.
        """
        headers = {"X-Namespace": namespace} if namespace else {}
        try:
            response = await bounded_request(
                self._client,
                method,
                path,
                limit=max_bytes,
                deadline=self._deadline,
                json=json_body,
                params=params,
                headers=headers,
            )
        except ResponseTooLarge as exc:
            raise ResponseTooBig(f"{method} {path}: {exc}") from exc
        except TenantPolicyDenied as exc:
            raise PeerRefused(f"{method} {path}: {exc}") from None
        except (httpx.TimeoutException, ResponseDeadline) as exc:
            raise ServerUnreachable(f"{method} {path}: timed out") from exc
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"{method} {path}: {type(exc).__name__}") from exc
        echoed = bool(self._secret) and self._secret.encode() in response.content
        body = self._parse(method, path, response)
        if response.status_code not in accept_statuses:
            raise _error_for(response, body, self._secret)
        if echoed:
            raise BadResponse(f"{method} {path}: HTTP {response.status_code} echoes the request's credentials; ignored")
        if not isinstance(body, dict):
            raise BadResponse(f"{method} {path}: HTTP {response.status_code} without a JSON object")
        return response.status_code, body

    @staticmethod
    def _parse(method: str, path: str, response: BoundedResponse) -> Any:
        content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type:
            if response.status_code >= 400:
                return None
            raise BadResponse(f"{method} {path}: HTTP {response.status_code} with content type {content_type!r}")
        try:
            return json.loads(response.content)
        except ValueError as exc:
            if response.status_code >= 400:
                return None
            raise BadResponse(f"{method} {path}: HTTP {response.status_code} with malformed JSON") from exc

    # Control plane -----------------------------------------------------------------------------

    async def cluster_info(self, namespace: str) -> dict[str, Any]:
        """GET /api/cluster/info (generation and, on newer servers, storage discovery)."""
        return (await self.request("GET", "/api/cluster/info", namespace=namespace))[1]

    async def get_namespace(self, name: str) -> dict[str, Any]:
        """GET /api/namespaces/{name}."""
        return (await self.request("GET", f"/api/namespaces/{segment(name)}", namespace=name))[1]

    async def put_external_storage(self, name: str, policy: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /api/namespaces/{name}/external-storage: replaces the whole policy."""
        return (
            await self.request(
                "PUT", f"/api/namespaces/{segment(name)}/external-storage", namespace=name, json_body=dict(policy)
            )
        )[1]

    async def storage_test(self, namespace: str, small: int, large: int) -> dict[str, Any]:
        """POST /api/storage/test with both sizes (the server requires both)."""
        body = {"small_payload_bytes": small, "large_payload_bytes": large}
        return (await self.request("POST", "/api/storage/test", namespace=namespace, json_body=body))[1]

    # Retention -----------------------------------------------------------------------------------

    async def retention_status(self, namespace: str) -> dict[str, Any]:
        """GET /api/system/retention."""
        return (await self.request("GET", "/api/system/retention", namespace=namespace))[1]

    async def retention_pass(self, namespace: str, limit: int) -> tuple[int, dict[str, Any]]:
        """POST /api/system/retention/pass; 207 means some runs failed."""
        return await self.request("POST", "/api/system/retention/pass", namespace=namespace, json_body={"limit": limit})

    async def cleanup_status(self, namespace: str) -> dict[str, Any]:
        """GET /api/system/external-payload-cleanup (Gen B)."""
        return (await self.request("GET", "/api/system/external-payload-cleanup", namespace=namespace))[1]

    async def cleanup_pass(self, namespace: str, limit: int) -> tuple[int, dict[str, Any]]:
        """POST /api/system/external-payload-cleanup/pass (Gen B); 207 when blocked."""
        return await self.request(
            "POST", "/api/system/external-payload-cleanup/pass", namespace=namespace, json_body={"limit": limit}
        )

    # Histories -----------------------------------------------------------------------------------

    async def _pages(self, path: str, namespace: str, page_size: int) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"page_size": page_size}
            if token:
                params["next_page_token"] = token
            page = (await self.request("GET", path, namespace=namespace, params=params, max_bytes=PAGE_MAX_BYTES))[1]
            yield page
            token = page.get("next_page_token")
            if not token:
                return

    async def workflows(self, namespace: str, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Every workflow of a namespace, page by page."""
        async for page in self._pages("/api/workflows", namespace, page_size):
            for workflow in page.get("workflows") or []:
                if isinstance(workflow, dict):
                    yield workflow

    async def runs(self, namespace: str, workflow_id: str) -> list[dict[str, Any]]:
        """The continue-as-new chain of a workflow."""
        body = (
            await self.request(
                "GET", f"/api/workflows/{segment(workflow_id)}/runs", namespace=namespace, max_bytes=PAGE_MAX_BYTES
            )
        )[1]
        return [r for r in body.get("runs") or [] if isinstance(r, dict)]

    async def history_pages(
        self, namespace: str, workflow_id: str, run_id: str, page_size: int = 500
    ) -> AsyncIterator[dict[str, Any]]:
        """A run's history, page by page."""
        path = f"/api/workflows/{segment(workflow_id)}/runs/{segment(run_id)}/history"
        async for page in self._pages(path, namespace, page_size):
            yield page
