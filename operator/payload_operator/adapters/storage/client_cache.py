"""Provider clients shared across resources: one per endpoint, credentials and tuning, in a bounded LRU.

Building a provider client is most of what a resync of a settled resource costs (an S3 client from a fresh
botocore session took about 0.12 s of CPU and held its own ~10 MiB copy of the service model), and a
thousand resources resync every few minutes. So clients are built once per distinct set of inputs and
reused by every store and rule store that names the same inputs.

Keys are fingerprints (`fingerprint`): a SHA-256 over the inputs, so credentials never sit in a key, a log
line or a repr. A rotated Secret has other data, hence another key: the next pass builds a new client, and
the old one is closed when it falls out of the cache. Builds run under the cache's lock, because the SDK
sessions they start from are not safe to use from two threads at once; the clients themselves are.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from typing import Generic, TypeVar

from payload_operator.core import metrics

T = TypeVar("T")

CACHE_SIZE = 64
"""Clients kept per provider: a shared S3 client costs about 0.3 MiB and 6 ms to build, so a fleet with more
distinct credentials than this pays a rebuild, not the memory."""


_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
TRANSPORT_ENVIRONMENT = (*_PROXIES, *(name.lower() for name in _PROXIES), "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE")
"""Variables an SDK reads once, when a client is built (proxies, CA bundles): part of every key, so a
changed environment gets a client that honours it."""


def transport_environment() -> dict[str, str]:
    """The values of TRANSPORT_ENVIRONMENT that are set."""
    return {name: os.environ[name] for name in TRANSPORT_ENVIRONMENT if name in os.environ}


def fingerprint(*parts: object) -> str:
    """A stable, non-reversible key for `parts` (JSON-serialisable values, secrets among them) and the
    transport environment."""
    encoded = json.dumps([transport_environment(), *parts], sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


class ClientCache(Generic[T]):
    """A thread-safe LRU of one provider's clients; `close` is called on every client that leaves it, and every
    build is counted (payload_operator_provider_clients_built_total)."""

    def __init__(self, provider: str, close: Callable[[T], object], size: int = CACHE_SIZE) -> None:
        self._built = metrics.PROVIDER_CLIENTS_BUILT.labels(provider)
        self._close = close
        self._size = size
        self._entries: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, build: Callable[[], T]) -> T:
        """The client under `key`, built by `build` (under the lock) when absent."""
        with self._lock:
            client = self._entries.get(key)
            if client is not None:
                self._entries.move_to_end(key)
                return client
            client = build()
            self._built.inc()
            self._entries[key] = client
            while len(self._entries) > self._size:
                _, evicted = self._entries.popitem(last=False)
                self._release(evicted)
            return client

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Close and drop every client (tests; a process about to exit needs nothing)."""
        with self._lock:
            while self._entries:
                self._release(self._entries.popitem()[1])

    def _release(self, client: T) -> None:
        # A client another thread still holds keeps working: closing only drops its idle connections.
        with suppress(Exception):
            self._close(client)
