"""Fixtures: fresh emulators per test (each on its own port and background thread)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devkit.dw_emulator import EmulatedServer

from .helpers import TOKENS, Api

ServerFactory = Callable[..., EmulatedServer]


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[ServerFactory]:
    created: list[EmulatedServer] = []

    def factory(**kwargs: Any) -> EmulatedServer:
        kwargs.setdefault("tokens", TOKENS)
        kwargs.setdefault("local_root", tmp_path / f"server-{len(created)}")
        srv = EmulatedServer(**kwargs).start()
        created.append(srv)
        return srv

    yield factory
    for srv in created:
        srv.close()


@pytest.fixture
def gen_a(make_server: ServerFactory) -> EmulatedServer:
    """Gen A as captured from the real server: no discovery block, payloads inline, no references."""
    return make_server(generation="A")


@pytest.fixture
def gen_a_refs(make_server: ServerFactory) -> EmulatedServer:
    """A later Gen A that advertises its reference schema and presents {codec, external_storage}."""
    return make_server(generation="A", profile="references")


@pytest.fixture
def gen_b(make_server: ServerFactory) -> EmulatedServer:
    return make_server(generation="B")


@pytest.fixture
def api_a(gen_a: EmulatedServer) -> Iterator[Api]:
    api = Api(gen_a)
    yield api
    api.close()


@pytest.fixture
def api_a_refs(gen_a_refs: EmulatedServer) -> Iterator[Api]:
    api = Api(gen_a_refs)
    yield api
    api.close()


@pytest.fixture
def api_b(gen_b: EmulatedServer) -> Iterator[Api]:
    api = Api(gen_b)
    yield api
    api.close()
