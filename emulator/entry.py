"""The Worker's own entry on a local port, as ``wrangler dev`` serves it (issue 4 part 6).

Each HTTP request to ``dev.ip:dev.port`` (wrangler's 8787 by default) runs the config's ``main`` module's
default ``fetch(request, env, ctx)`` in the JS worker pool, with the same ``env`` the outbound handlers get:
vars, secrets, KV, R2, Secrets Store, and a ``DurableObjectNamespace`` per ``durable_objects`` binding, whose
sandbox stubs reach the emulator's sandboxes (runtime/env/durable_objects.py). The Response streams back as
the pool delivers it. A fetch that throws answers 500 with the error and its TypeScript location, which the
log shows too; one that has no default ``fetch`` answers what wrangler's facade throws.

Differences from production, on purpose: the request body is read whole before the Worker runs (up to 100 MiB, the
request body limit of Cloudflare's Free and Pro plans; more answers 413), and there is no time limit on producing
the Response (as in ``wrangler dev``: a Worker awaiting ``sandbox.exec("npm install")``
must not be cut off).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import StreamReader, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.web_protocol import RequestHandler

from emulator.errors import UserError
from emulator.runtime.pool import (
    WORKER_FETCH,
    HandlerError,
    HandlerRequest,
    HandlerResponse,
    HandlerReturnedNonResponse,
    WorkerLost,
)

if TYPE_CHECKING:
    from emulator.emulator import Emulator

log = logging.getLogger("outbound")

TEXT_PLAIN = "text/plain;charset=UTF-8"
# Connection-level headers: aiohttp frames the response itself (Content-Length from the Worker is kept).
_HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer")
)
_NO_BODY_METHODS = frozenset(("GET", "HEAD"))
# Cloudflare's request body limit on the Free and Pro plans (Business 200 MB, Enterprise 500 MB); aiohttp's
# own default, 1 MiB, refused bodies production accepts.
MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class WorkerAddress:
    """Where the Worker listens. ``fallback``: if the port is taken, take a free one (wrangler does so for its
    default port) instead of failing."""

    ip: str
    port: int
    fallback: bool = False

    @property
    def bind_ip(self) -> str:
        # wrangler's default dev.ip "localhost" is bound as 127.0.0.1: one loopback address, IPv4 as curl falls
        # back to it.
        return "127.0.0.1" if self.ip == "localhost" else self.ip


class WorkerEntry:
    """``async with WorkerEntry(emulator, WorkerAddress("127.0.0.1", 8787)) as entry:`` serves the Worker at
    ``entry.url``."""

    def __init__(
        self, emulator: Emulator, address: WorkerAddress, max_body_bytes: int = MAX_REQUEST_BODY_BYTES
    ) -> None:
        self._emulator = emulator
        self._address = address
        self._max_body_bytes = max_body_bytes
        self._runner: web.ServerRunner | None = None
        self.url = ""

    async def __aenter__(self) -> WorkerEntry:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> str:
        server = web.Server(self._serve, request_factory=self._make_request, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        ip, port = self._address.bind_ip, self._address.port
        try:
            try:
                await web.TCPSite(runner, ip, port).start()
            except OSError as error:
                if not (self._address.fallback and error.errno == errno.EADDRINUSE):
                    raise
                log.warning("%s:%d is in use; the Worker listens on a free port instead", ip, port)
                await web.TCPSite(runner, ip, 0).start()
        except OSError as error:
            await runner.cleanup()
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise UserError(
                f"cannot serve the Worker on {ip}:{port}: {reason}; choose another address "
                "with --ip/--port (or `dev.ip`/`dev.port` in the wrangler config)"
            ) from None
        self._runner = runner
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        return self.url

    @property
    def has_fetch(self) -> bool:
        """Whether the loaded module's default export has a fetch() to serve (js/bridge.js workerFetch)."""
        return self._emulator.current_egress().pool.report.get("workerFetch") is True

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _make_request(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        loop = asyncio.get_running_loop()
        return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=self._max_body_bytes)

    async def _serve(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.monotonic()
        try:
            handler_request = await self._handler_request(request)
        except web.HTTPRequestEntityTooLarge:
            limit = self._max_body_bytes
            text = f"the request body is over {limit} bytes, the most a Worker accepts here; send a smaller body\n"
            log.info("%s %s 413 (%d ms)", request.method, request.path_qs, _ms(started))
            return web.Response(status=413, text=text, content_type="text/plain", headers={"connection": "close"})
        egress = self._emulator.current_egress()
        try:
            response = await egress.pool.run(WORKER_FETCH, handler_request, response_timeout_s=math.inf)
        except HandlerError as failure:
            answer = self._failed(failure)
            log.info("%s %s %d (%d ms)", request.method, request.path_qs, answer.status, _ms(started))
            return answer
        served = await self._stream(request, response)
        log.info("%s %s %d (%d ms)", request.method, request.path_qs, served.status, _ms(started))
        return served

    async def _handler_request(self, request: web.BaseRequest) -> HandlerRequest:
        host = request.headers.get("host") or self.url.removeprefix("http://")
        headers = [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in request.raw_headers]
        if request.remote and not any(name == "cf-connecting-ip" for name, _ in headers):
            headers.append(("cf-connecting-ip", request.remote))  # as wrangler dev adds it
        body = None
        if request.method not in _NO_BODY_METHODS and request.body_exists:
            body = await request.read()
        return HandlerRequest(
            method=request.method, url=f"http://{host}{request.raw_path}", headers=tuple(headers), body=body
        )

    async def _stream(self, request: web.BaseRequest, response: HandlerResponse) -> web.StreamResponse:
        out = web.StreamResponse(status=response.status, reason=response.reason or None)
        for name, value in response.headers:
            if name not in _HOP_BY_HOP:
                out.headers.add(name, value)
        ended = False
        try:
            await out.prepare(request)
            async for chunk in response.body:
                await out.write(chunk)
            ended = True
            await out.write_eof()
        except HandlerError as failure:
            ended = True
            # The headers are gone: all that is left is to cut the connection, as workerd does.
            log.error("the Worker's fetch Response body failed mid-stream: %s", self._describe(failure))
            if request.transport is not None:
                request.transport.close()
        except ConnectionError:
            pass  # the client went away
        finally:
            if not ended:  # the client went away or the server is stopping: stop the Worker's stream
                response.body.cancel()
        return out

    def _failed(self, failure: HandlerError) -> web.Response:
        detail = self._describe(failure)
        config = self._emulator.config
        main = config.main.relative_to(config.root) if config.main.is_relative_to(config.root) else config.main
        log.error("the Worker's fetch (%s) failed: %s", main, detail)
        status = 503 if isinstance(failure, WorkerLost) else 500
        if isinstance(failure, HandlerReturnedNonResponse):
            detail = f"{detail}\nreturn a Response from the default export's fetch()"
        return web.Response(status=status, body=f"{detail}\n".encode(), headers={"content-type": TEXT_PLAIN})

    def _describe(self, failure: HandlerError) -> str:
        if not failure.error:
            return str(failure)
        return self._emulator.current_egress().stacks.describe(failure.error)


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
