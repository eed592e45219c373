"""HTTP routes, one module per API area."""

from __future__ import annotations

from aiohttp import web

from . import cluster, namespaces, retention, start, storage_test, transport, workflows


def register(app: web.Application) -> None:
    for module in (cluster, namespaces, storage_test, start, workflows, retention, transport):
        module.register(app.router)
