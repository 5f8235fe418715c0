"""An upstream that answers only when the test says so: it keeps a handler's request in flight on purpose.

    /held       waits for the gate, then answers "released"
    /streamed   sends "first\n" at once, waits for the gate, then sends "second\n" and ends

``arrived`` is set when a request reached it (the handler is now waiting on it), ``opened`` lets them finish.
"""

from __future__ import annotations

import asyncio
from typing import Self

from aiohttp import web

from tests.support.upstream import RunningServer, start_server


class Gate:
    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.opened = asyncio.Event()
        self._server: RunningServer | None = None

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.port}"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/held", self._held)
        app.router.add_get("/streamed", self._streamed)
        self._server = await start_server(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.opened.set()
        if self._server is not None:
            await self._server.close()

    async def _held(self, request: web.Request) -> web.Response:
        self.arrived.set()
        await self.opened.wait()
        return web.Response(text="released")

    async def _streamed(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first\n")
        self.arrived.set()
        await self.opened.wait()
        await response.write(b"second\n")
        await response.write_eof()
        return response
