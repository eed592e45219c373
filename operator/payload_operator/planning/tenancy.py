"""The admin-owned tenant policy and the pure decision whether a resource stays inside it.

Anyone who may create an ExternalPayloadStorage in one namespace must not be able to turn the shared
operator against others: borrow its ambient cloud identity, send credentials to a host of their
choosing, mount host directories or starve it. The admin sets what tenants may use (Helm values
`tenantPolicy`, environment PAYLOAD_OPERATOR_TENANT_POLICY); a resource asking for more is refused
before anything is called, with a message naming the admin setting that would allow it.

Pure: addresses are resolved by the caller (`payload_operator.adapters.tenancy`) and passed in.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from payload_operator.api.spec import Driver, ExternalPayloadStorageSpec, RunnerType

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ANY_NAMESPACE = "*"
SETTING = "tenantPolicy"
"""The Helm values key; the operator reads the same document from PAYLOAD_OPERATOR_TENANT_POLICY."""
DENIED = "TenantPolicyDenied"
"""The condition reason of a refused resource."""


class EndpointUse(StrEnum):
    """What an endpoint is used for: the server's control plane or one provider's storage."""

    SERVER = "server"
    S3 = "s3"
    GCS = "gcs"
    AZURE = "azure"


# Each provider's public hosts (https only): where its credentials may always go.
PUBLIC_HOSTS: dict[EndpointUse, tuple[str, ...]] = {
    EndpointUse.SERVER: (),
    EndpointUse.S3: ("*.amazonaws.com", "*.amazonaws.com.cn"),
    EndpointUse.GCS: ("storage.googleapis.com", "oauth2.googleapis.com"),
    EndpointUse.AZURE: (
        "*.blob.core.windows.net",
        "*.blob.core.chinacloudapi.cn",
        "*.blob.core.usgovcloudapi.net",
        "management.azure.com",
        "management.chinacloudapi.cn",
        "management.usgovcloudapi.net",
    ),
}
DEFAULT_ENDPOINTS = {
    EndpointUse.S3: "https://s3.amazonaws.com",
    EndpointUse.GCS: "https://storage.googleapis.com",
}


class _PolicyModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class EndpointGrant(_PolicyModel):
    """Hosts tenants may name as endpoints, beyond the providers' public ones."""

    hosts: Annotated[list[str], Field(min_length=1)]
    """`host`, `host:port`, `*.domain` (any name under it), an IP address or a CIDR block."""
    uses: list[EndpointUse] = list(EndpointUse)
    """What the hosts may serve: server, s3, gcs, azure (default: all)."""
    namespaces: list[str] = [ANY_NAMESPACE]
    """Namespaces whose resources may use them ("*": every namespace)."""
    ambient_credentials: bool = False
    """Whether the operator's ambient identity may be sent there (only to hosts you run yourself)."""
    require_https: bool = False
    """Refuse http:// to these hosts (for their uses and namespaces), even where plain http is allowed elsewhere."""

    @field_validator("hosts")
    @classmethod
    def _parsable(cls, hosts: list[str]) -> list[str]:
        """A typo must stop the operator at start, not silently allow nothing."""
        for text in hosts:
            _Entry.parse(text)
        return hosts


class LocalRootGrant(_PolicyModel):
    """A directory under which `spec.local.path` may lie."""

    path: Annotated[str, Field(pattern=r"^/")]
    """Absolute directory."""
    namespaces: list[str] = [ANY_NAMESPACE]
    """Namespaces whose resources may use it ("*": every namespace)."""


class TenantPolicy(_PolicyModel):
    """What tenants may make the operator do; the defaults refuse everything not needed for public clouds."""

    ambient_credentials_namespaces: list[str] = []
    """Namespaces (besides the operator's own) whose resources may omit credentialsSecretRef and so use
    the operator's ambient identity (IRSA, Workload Identity, managed identity). "*": every namespace."""
    endpoints: list[EndpointGrant] = []
    """Custom endpoints (S3-compatible stores, private GCS/Azure endpoints, servers on loopback or
    link-local addresses) tenants may name."""
    local_roots: list[LocalRootGrant] = []
    """Directories `spec.local.path` may lie under (default: none, so the local driver is refused)."""
    in_process_namespaces: list[str] = []
    """Namespaces whose resources may use runner.type InProcess ("*": every namespace)."""
    max_concurrency: Annotated[int, Field(ge=1, le=256)] = 32
    """Largest spec.integrity.concurrency a resource may ask for."""
    max_shards: Annotated[int, Field(ge=1, le=16)] = 8
    """Largest spec.runner.shards a resource may ask for."""
    require_https: bool = False
    """Refuse http:// server URLs and endpoints."""


@dataclass(frozen=True)
class Endpoint:
    """One place the operator would connect to for a resource, and what it would send there."""

    field: str
    use: EndpointUse
    url: str
    ambient: bool = False
    """Whether the operator's own (ambient) credentials would go there."""


@dataclass(frozen=True)
class Violation:
    """One thing the resource asks for that the policy does not allow."""

    field: str
    problem: str
    setting: str

    def describe(self) -> str:
        """`field: problem; an admin can allow it with setting`."""
        return f"{self.field}: {self.problem}; an admin can allow it with {SETTING}.{self.setting}"


@dataclass(frozen=True)
class Host:
    """The host part of a URL, lowercased, with the port made explicit."""

    name: str
    port: int

    @property
    def address(self) -> Address | None:
        """The host as an IP address, when it is one."""
        return _ip(self.name)


def _ip(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def host_of(url: str) -> Host | None:
    """The host of an http(s) URL, or None when the URL has none (or carries userinfo)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    default = 443 if parts.scheme == "https" else 80
    return Host(parts.hostname.rstrip(".").lower(), port or default)


def refusal_message(violations: Sequence[Violation]) -> str:
    """The condition message: every violation, then where to read more."""
    found = "; ".join(v.describe() for v in violations)
    return f"refused by the operator's tenant policy, nothing was called: {found} (docs/security.md, docs/upgrading.md)"


# ------------------------------------------------------------------------------------------- endpoints
def uses_ambient_credentials(spec: ExternalPayloadStorageSpec) -> bool:
    """Whether the storage block omits credentialsSecretRef, so the operator's own identity would be used."""
    block = {Driver.S3: spec.s3, Driver.GCS: spec.gcs, Driver.AZURE: spec.azure}.get(spec.driver)
    return block is not None and block.credentials_secret_ref is None


def endpoints_of(spec: ExternalPayloadStorageSpec, credentials: Mapping[str, str] | None = None) -> list[Endpoint]:
    """Every endpoint the operator would call for `spec`; with the credentials read, also those they name."""
    ambient = uses_ambient_credentials(spec)
    found = [Endpoint("spec.server.url", EndpointUse.SERVER, spec.server.url)]
    if spec.driver is Driver.S3 and spec.s3:
        url = spec.s3.endpoint or DEFAULT_ENDPOINTS[EndpointUse.S3]
        found.append(Endpoint("spec.s3.endpoint", EndpointUse.S3, url, ambient))
    elif spec.driver is Driver.GCS and spec.gcs:
        url = spec.gcs.endpoint or DEFAULT_ENDPOINTS[EndpointUse.GCS]
        found.append(Endpoint("spec.gcs.endpoint", EndpointUse.GCS, url, ambient))
        key = spec.gcs.credentials_secret_ref.key if spec.gcs.credentials_secret_ref else ""
        token_uri = _token_uri(credentials.get(key, "")) if credentials is not None and key else None
        if token_uri is not None:
            found.append(Endpoint(f"token_uri in the Secret's {key}", EndpointUse.GCS, token_uri))
    elif spec.driver is Driver.AZURE and spec.azure:
        named = _connection_string_endpoints(credentials.get("connectionString", "")) if credentials else []
        found += [Endpoint(f"{key} of the Secret's connectionString", EndpointUse.AZURE, url) for key, url in named]
        if not named:
            found.append(Endpoint("spec.azure.accountUrl", EndpointUse.AZURE, spec.azure.account_url, ambient))
        policy = spec.azure.management_policy
        if policy is not None:
            principal = credentials is not None and all(
                credentials.get(k) for k in ("tenantId", "clientId", "clientSecret")
            )
            arm_ambient = ambient or (credentials is not None and not principal)
            found.append(
                Endpoint("spec.azure.managementPolicy.endpoint", EndpointUse.AZURE, policy.endpoint, arm_ambient)
            )
    return found


def _token_uri(service_account_json: str) -> str | None:
    try:
        info = json.loads(service_account_json)
    except ValueError:
        return None
    uri = info.get("token_uri") if isinstance(info, dict) else None
    return uri if isinstance(uri, str) and uri else None


def _connection_string_endpoints(connection_string: str) -> list[tuple[str, str]]:
    """The blob endpoints a connection string names, explicitly or by account name and suffix; keys are
    case-insensitive, as the Azure SDK reads them."""
    fields = {
        key.strip().lower(): value.strip()
        for key, _, value in (part.partition("=") for part in connection_string.split(";"))
        if value
    }
    named = [(key, fields[key.lower()]) for key in ("BlobEndpoint", "BlobSecondaryEndpoint") if fields.get(key.lower())]
    if named:
        return named
    if fields.get("usedevelopmentstorage", "").lower() == "true":
        return [("UseDevelopmentStorage", "http://127.0.0.1:10000/devstoreaccount1")]
    account = fields.get("accountname")
    if not account:
        return []
    scheme = fields.get("defaultendpointsprotocol", "https")
    return [("AccountName", f"{scheme}://{account}.blob.{fields.get('endpointsuffix', 'core.windows.net')}")]


def hosts_to_resolve(endpoints: Iterable[Endpoint]) -> set[str]:
    """Names whose addresses the decision needs (IP literals need no lookup)."""
    hosts = (host_of(e.url) for e in endpoints)
    return {h.name for h in hosts if h is not None and h.address is None}


# -------------------------------------------------------------------------------------------- decision
def _listed(namespaces: Sequence[str], namespace: str) -> bool:
    return ANY_NAMESPACE in namespaces or namespace in namespaces


def _name_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    return name == pattern


@dataclass(frozen=True)
class _Entry:
    """One parsed `hosts` entry of a grant."""

    name: str | None = None
    network: Network | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> _Entry:
        text = text.strip().lower().rstrip(".")
        if "/" in text:
            return cls(network=ipaddress.ip_network(text, strict=False))
        port: int | None = None
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else None
        elif text.count(":") == 1:
            host, _, digits = text.partition(":")
            port = int(digits)
        else:
            host = text
        address = _ip(host)
        if address is not None:
            return cls(network=ipaddress.ip_network(address), port=port)
        return cls(name=host, port=port)

    def covers_name(self, host: Host) -> bool:
        return self.name is not None and self.port in (None, host.port) and _name_matches(self.name, host.name)

    def covers_address(self, address: Address, port: int) -> bool:
        return self.network is not None and self.port in (None, port) and address in self.network


def _entries(grant: EndpointGrant) -> list[_Entry]:
    return [_parsed_entry(text) for text in grant.hosts]


@functools.lru_cache(maxsize=1024)
def _parsed_entry(text: str) -> _Entry:
    """`_Entry.parse`, remembered: every check of every resource reads the same few policy entries."""
    return _Entry.parse(text)


def _grants_host(grant: EndpointGrant, host: Host, resolved: Sequence[Address]) -> bool:
    """Whether the grant lists the host by name, or lists every address it resolves to."""
    entries = _entries(grant)
    if any(e.covers_name(host) for e in entries):
        return True
    return bool(resolved) and all(any(e.covers_address(a, host.port) for e in entries) for a in resolved)


def forbidden_address(address: Address, api_server: frozenset[Address]) -> str | None:
    """Why an address is never called unless listed: loopback, link-local, the API server, ..."""
    if address in api_server:
        return "the Kubernetes API server"
    for kind in ("loopback", "link_local", "unspecified", "multicast", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    return None


def is_public(use: EndpointUse, url: str) -> bool:
    """Whether `url` is one of the provider's public https endpoints."""
    host = host_of(url)
    return (
        host is not None and url.startswith("https://") and any(_name_matches(p, host.name) for p in PUBLIC_HOSTS[use])
    )


def _check_endpoint(
    endpoint: Endpoint,
    namespace: str,
    policy: TenantPolicy,
    addresses: Mapping[str, Sequence[Address]],
    api_server: frozenset[Address],
) -> list[Violation]:
    host = host_of(endpoint.url)
    if host is None:
        return [Violation(endpoint.field, "not an http(s) URL with a host and without userinfo", "endpoints")]
    where = f"{host.name}:{host.port}"
    problems: list[Violation] = []
    grants = [g for g in policy.endpoints if endpoint.use in g.uses and _listed(g.namespaces, namespace)]
    resolved = [host.address] if host.address is not None else list(addresses.get(host.name, ()))
    granted = [g for g in grants if _grants_host(g, host, resolved)]
    if not endpoint.url.startswith("https://"):
        if policy.require_https:
            problems.append(Violation(endpoint.field, f"{where} is not https", "requireHttps"))
        elif any(g.require_https for g in granted):  # the strictest grant of the host wins
            problems.append(Violation(endpoint.field, f"{where} is listed for https only", "endpoints[].requireHttps"))
    public = is_public(endpoint.use, endpoint.url)
    if endpoint.use is not EndpointUse.SERVER and not public and not granted:
        problems.append(
            Violation(endpoint.field, f"custom endpoint {where} is not listed for {endpoint.use.value}", "endpoints")
        )
    # A listed name (not a wildcard) or a listed address is trusted wherever it resolves; anything else
    # must not resolve to loopback, link-local or the API server (a DNS name can point anywhere).
    trusted = {
        a
        for a in resolved
        if any(
            e.covers_address(a, host.port) or (e.covers_name(host) and e.name and not e.name.startswith("*."))
            for g in grants
            for e in _entries(g)
        )
    }
    for address in resolved:
        why = forbidden_address(address, api_server)
        if why is not None and address not in trusted:
            problems.append(Violation(endpoint.field, f"{where} resolves to {address}, {why}", "endpoints"))
            break
    if endpoint.ambient and not public and not any(g.ambient_credentials for g in granted):
        problems.append(
            Violation(
                endpoint.field,
                f"the operator's ambient credentials go only to {endpoint.use.value}'s public https endpoints,"
                f" not to {where}",
                "endpoints[].ambientCredentials",
            )
        )
    return problems


def decide(
    spec: ExternalPayloadStorageSpec,
    namespace: str,
    policy: TenantPolicy,
    *,
    operator_namespace: str = "",
    endpoints: Sequence[Endpoint] | None = None,
    addresses: Mapping[str, Sequence[Address]] | None = None,
    api_server: Iterable[Address] = (),
) -> list[Violation]:
    """Everything `spec` in `namespace` asks for beyond `policy`; empty when the resource may proceed."""
    endpoints = endpoints_of(spec) if endpoints is None else endpoints
    api = frozenset(api_server)
    problems: list[Violation] = []
    if any(e.ambient for e in endpoints) and not (
        namespace == operator_namespace or _listed(policy.ambient_credentials_namespaces, namespace)
    ):
        block = f"spec.{spec.driver.value}"
        problems.append(
            Violation(
                f"{block}.credentialsSecretRef",
                f"omitted, so the operator's ambient identity would be used, which namespace {namespace} may not"
                " use (reference a credentials Secret instead)",
                "ambientCredentialsNamespaces",
            )
        )
    for endpoint in endpoints:
        problems.extend(_check_endpoint(endpoint, namespace, policy, addresses or {}, api))
    problems.extend(_local_path(spec, namespace, policy))
    problems.extend(_runner(spec, namespace, policy))
    return problems


def judge_peer(
    endpoint: Endpoint,
    namespace: str,
    policy: TenantPolicy,
    peer: Address,
    api_server: Iterable[Address] = (),
) -> list[Violation]:
    """The endpoint judged again by the address a connection actually reached.

    A name is resolved once for the decision and again by the client that connects; a name whose answer
    changes in between (DNS rebinding) must be judged by where the connection went.
    """
    host = host_of(endpoint.url)
    addresses = {host.name: [peer]} if host is not None else {}
    return _check_endpoint(endpoint, namespace, policy, addresses, frozenset(api_server))


def _local_path(spec: ExternalPayloadStorageSpec, namespace: str, policy: TenantPolicy) -> list[Violation]:
    if spec.driver is not Driver.LOCAL or spec.local is None:
        return []
    path = spec.local.path
    segments = path.split("/")[1:]
    if any(s in ("", ".", "..") for s in segments[:-1]) or segments[-1] in (".", ".."):
        return [Violation("spec.local.path", f"{path!r} is not a normalized absolute path", "localRoots")]
    wanted = path.rstrip("/") or "/"
    for grant in policy.local_roots:
        base = grant.path.rstrip("/")
        if _listed(grant.namespaces, namespace) and (wanted == (base or "/") or wanted.startswith(base + "/")):
            return []
    return [Violation("spec.local.path", f"{path!r} is under no allowed local root", "localRoots")]


def _runner(spec: ExternalPayloadStorageSpec, namespace: str, policy: TenantPolicy) -> list[Violation]:
    problems = []
    if spec.runner.type is RunnerType.IN_PROCESS and not _listed(policy.in_process_namespaces, namespace):
        problems.append(
            Violation(
                "spec.runner.type",
                f"InProcess runs inside the shared operator, which namespace {namespace} may not do (use Job)",
                "inProcessNamespaces",
            )
        )
    if spec.runner.shards > policy.max_shards:
        problems.append(
            Violation("spec.runner.shards", f"{spec.runner.shards} exceeds {policy.max_shards}", "maxShards")
        )
    if spec.integrity is not None and spec.integrity.concurrency > policy.max_concurrency:
        problems.append(
            Violation(
                "spec.integrity.concurrency",
                f"{spec.integrity.concurrency} exceeds {policy.max_concurrency}",
                "maxConcurrency",
            )
        )
    return problems
