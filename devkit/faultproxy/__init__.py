"""A fault-injecting TCP/HTTP proxy for drills: put it between a client and one server on 127.0.0.1.

See `devkit.faultproxy.proxy` for the API. Modes: added latency (before forwarding or before
answering), dropped (FIN) and reset (RST) connections, injected statuses (500, 503, 429 with
Retry-After, anything), truncated bodies, refused connections; all switchable at runtime, every
connection and request counted and logged with timestamps.
"""

from __future__ import annotations

from devkit.faultproxy.log import Exchange, ExchangeLog
from devkit.faultproxy.proxy import FaultProxy
from devkit.faultproxy.rules import Rule

__all__ = ["Exchange", "ExchangeLog", "FaultProxy", "Rule"]
