"""Assemble the aiohttp application for one emulator context."""

from __future__ import annotations

from aiohttp import web

from . import routes
from .context import CTX, EmulatorContext
from .middleware import gate, observe

MAX_BODY_BYTES = 80 * 1024 * 1024  # above the 64 MiB transport limit


def build_app(ctx: EmulatorContext) -> web.Application:
    app = web.Application(middlewares=[observe, gate], client_max_size=MAX_BODY_BYTES)
    app[CTX] = ctx
    routes.register(app)
    return app
