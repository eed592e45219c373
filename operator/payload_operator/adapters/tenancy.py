"""Apply the tenant policy to a resource: resolve the hosts it names, then let the pure decision judge.

Names are resolved here so that a DNS name pointing at 127.0.0.1 or 169.254.169.254 is judged by
where it leads, not by how it is spelled. A name that does not resolve is judged by its spelling
only (the call would fail anyway). Resolution and connection are separate lookups: the server client
judges each connection again by the address it goes to (`server_peer_check`, `peer_check.py`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from payload_operator.api.resource import Resource
from payload_operator.core.config import OperatorConfig
from payload_operator.planning.tenancy import (
    Address,
    Endpoint,
    EndpointUse,
    TenantPolicy,
    Violation,
    decide,
    endpoints_of,
    hosts_to_resolve,
    judge_peer,
    refusal_message,
)

RESOLVE_TIMEOUT_SECONDS = 5.0


class TenantPolicyDenied(Exception):
    """The resource asks for something the admin's tenant policy does not allow."""

    reason = "TenantPolicyDenied"

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__(refusal_message(violations))
        self.violations = list(violations)


@dataclass(frozen=True)
class Admission:
    """The policy plus what it is judged against: the operator's namespace and API server."""

    policy: TenantPolicy
    operator_namespace: str = ""
    api_server_urls: tuple[str, ...] = ()

    async def violations(self, resource: Resource, credentials: Mapping[str, str] | None = None) -> list[Violation]:
        """Everything the resource asks for beyond the policy (empty: it may proceed)."""
        endpoints = endpoints_of(resource.spec, credentials)
        api_hosts = self._api_hosts()
        addresses = await resolve_all(hosts_to_resolve(endpoints) | api_hosts)
        api_server = [a for host in api_hosts for a in addresses.get(host, ())]
        return decide(
            resource.spec,
            resource.namespace,
            self.policy,
            operator_namespace=self.operator_namespace,
            endpoints=endpoints,
            addresses=addresses,
            api_server=api_server,
        )

    async def check(self, resource: Resource, credentials: Mapping[str, str] | None = None) -> None:
        """Raise TenantPolicyDenied when the resource asks for more than the policy allows."""
        found = await self.violations(resource, credentials)
        if found:
            raise TenantPolicyDenied(found)

    async def server_peer_check(self, resource: Resource) -> Callable[[Address], None]:
        """The check of every connection to the resource's server by the address it goes to (peer_check.py):
        TenantPolicyDenied when the policy would have refused the URL had its name resolved there."""
        addresses = await resolve_all(self._api_hosts())
        api_server = [a for found in addresses.values() for a in found]
        endpoint = Endpoint("spec.server.url", EndpointUse.SERVER, resource.spec.server.url)

        def check(peer: Address) -> None:
            found = judge_peer(endpoint, resource.namespace, self.policy, peer, api_server)
            if found:
                raise TenantPolicyDenied([replace(v, problem=f"connected to {peer}: {v.problem}") for v in found])

        return check

    def _api_hosts(self) -> set[str]:
        return {h for h in (urlsplit(u).hostname for u in self.api_server_urls) if h}


def admission_for(config: OperatorConfig) -> Admission:
    """The admission the operator (or a Job it started, which gets the same settings) applies."""
    return Admission(config.tenant_policy, config.namespace, in_cluster_api_server())


def in_cluster_api_server() -> tuple[str, ...]:
    """The API server as pods reach it (KUBERNETES_SERVICE_HOST), when running in a cluster."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    return (f"https://[{host}]" if ":" in host else f"https://{host}",) if host else ()


async def resolve(host: str) -> list[Address]:
    """Every address `host` resolves to; empty when it does not resolve in time."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError, UnicodeError):
        return []
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        mapped = getattr(address, "ipv4_mapped", None)
        found.append(mapped or address)
    return found


async def resolve_all(hosts: Iterable[str]) -> dict[str, list[Address]]:
    """Resolve several names at once."""
    names = sorted(set(hosts))
    results = await asyncio.gather(*(resolve(name) for name in names))
    return dict(zip(names, results, strict=True))
