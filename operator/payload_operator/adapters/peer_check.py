"""Judge every connection by the address it goes to, not by the name it was made for (DNS rebinding).

The tenant policy resolves a URL's host and judges the addresses before anything is sent; the client
resolves again when it connects. A name that answers a public address to the first lookup and
127.0.0.1 or 169.254.169.254 to the second would carry the admin token to the loopback or metadata
service. So the client runs the check again on the very address each connection is made to, before a
byte is sent (aio_transport.py: aiohttp connects to exactly the addresses it resolved).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from payload_operator.planning.tenancy import Address

PeerCheck = Callable[[Address], None]
"""Raises when a connection to this address must not be used."""


def peer_address(server_addr: object) -> Address:
    """The IP address of a socket address tuple (an IPv4-mapped IPv6 address as the IPv4 address)."""
    host = str(server_addr[0]) if isinstance(server_addr, tuple) and server_addr else ""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address
