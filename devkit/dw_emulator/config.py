"""Emulator configuration: role tokens and generation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Generation = Literal["A", "B"]
# Gen A flavours: "captured" answers as the real server @11d35b7 does (no storage discovery block,
# offloaded payloads inline, SDK 2.x single-object Avro refused, no references kept, so retention
# deletes nothing); "references" is a later Gen A that advertises and presents {codec, external_storage}.
Profile = Literal["captured", "references"]


@dataclass(frozen=True)
class Tokens:
    """Bearer tokens per role (``DW_ADMIN_TOKEN``, ``DW_OPERATOR_TOKEN``, ``DW_WORKER_TOKEN``).

    Like the real server, a token configured for several roles resolves to the
    *lowest* role (worker before operator before admin): "when one token is
    configured for every role, the server treats it as the worker role".
    """

    admin: str | None = "admin-token"
    operator: str | None = "operator-token"
    worker: str | None = "worker-token"

    def role_for(self, token: str | None) -> str | None:
        if not token:
            return None
        for role in ("worker", "operator", "admin"):
            if getattr(self, role) == token:
                return role
        return None

    def token_for(self, role: str) -> str | None:
        value: str | None = getattr(self, role)
        return value
