"""The benchmarks' upstream: one aiohttp app answering every GET with a short text, on loopback, over plain HTTP
and, given a server context, over TLS too. The throwaway CA is the tests' (tests/support/upstream.py)."""

from __future__ import annotations

import socket
import ssl
import sys
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks run as scripts; tests.support is not an installed package

from tests.support.upstream import create_throwaway_ca  # noqa: E402

__all__ = ["create_throwaway_ca", "start_upstream"]


async def start_upstream(*contexts: ssl.SSLContext | None) -> tuple[web.AppRunner, list[int]]:
    """Serve on one loopback port per context (None: plain HTTP); returns the runner and the ports."""

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="upstream ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    ports = []
    for context in contexts or (None,):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock, ssl_context=context).start()
        ports.append(sock.getsockname()[1])
    return runner, ports
