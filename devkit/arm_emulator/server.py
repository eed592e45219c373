"""``ArmEmulator``: the ARM management-policy endpoints over HTTPS on a background thread."""

from __future__ import annotations

import asyncio
import copy
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from .app import ALL_ACTIONS, Account, ArmState, build_app
from .tls import write_self_signed


class ArmEmulator:
    """Serves on https://127.0.0.1:<free port>; `ca_file` is the certificate clients must trust.

    State is reachable directly (accounts, tokens, the raw rules) so tests can play "someone edited
    the policy by hand" without going through the API.
    """

    def __init__(self) -> None:
        self.state = ArmState()
        self._dir = Path(tempfile.mkdtemp(prefix="arm-emulator-"))
        self.ca_file, key_file = write_self_signed(self._dir)
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(self.ca_file, key_file)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="arm-emulator", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The endpoint to put in spec.azure.managementPolicy.endpoint."""
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> ArmEmulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(30)
        return self

    async def _serve(self) -> None:
        self._runner = web.AppRunner(build_app(self.state), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl).start()
        self.port = int(self._runner.addresses[0][1])

    def close(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ArmEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def add_token(self, token: str, actions: frozenset[str] = ALL_ACTIONS) -> str:
        """Accept `token`, allowed the given actions (read, write, delete)."""
        with self.state.lock:
            self.state.tokens[token] = actions
        return token

    def add_account(self, subscription: str, resource_group: str, name: str) -> None:
        """Create a storage account without a management policy."""
        with self.state.lock:
            key = (subscription.lower(), resource_group.lower(), name.lower())
            self.state.accounts[key] = Account(subscription, resource_group, name)

    def rules(self, subscription: str, resource_group: str, name: str) -> list[dict[str, Any]] | None:
        """A copy of the account's policy rules as stored (None: no policy)."""
        with self.state.lock:
            account = self.state.account(subscription, resource_group, name)
            return copy.deepcopy(account.rules) if account else None

    def set_rules(self, subscription: str, resource_group: str, name: str, rules: list[dict[str, Any]] | None) -> None:
        """Replace the policy behind the API's back (None removes it)."""
        with self.state.lock:
            account = self.state.account(subscription, resource_group, name)
            if account is None:
                raise KeyError(name)
            account.rules = copy.deepcopy(rules)

    def count(self, method: str) -> int:
        """Answered requests with this HTTP method."""
        with self.state.lock:
            return sum(1 for logged in self.state.log if logged[0] == method)
