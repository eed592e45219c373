"""What a run is handed: the shard it owns and everything resolved for it before it starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from payload_operator.api.resource import Resource
from payload_operator.core.secrets import SecretValues


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`, split by the first hex digits of the sha256."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse "I/N" (0-based)."""
        index, _, count = text.partition("/")
        shard = cls(int(index), int(count))
        if not 0 <= shard.index < shard.count:
            raise ValueError(f"shard {text!r}: want I/N with 0 <= I < N")
        return shard


@dataclass(frozen=True)
class RunContext:
    """Everything a run needs, resolved before it starts (so a run never reads Kubernetes itself)."""

    resource: Resource
    server_token: str | None
    storage_credentials: SecretValues | None
    shard: Shard
    dry_run: bool = True
    server_ca: str | None = None
    """The PEM bundle spec.server.caBundleRef names, when it names one."""
    server_peer_check: Callable[[Any], None] | None = None
    """Judges each connection to the server by the address it goes to (the tenant policy against DNS
    rebinding, adapters/peer_check.py); None where no policy applies (the command line with -f)."""
