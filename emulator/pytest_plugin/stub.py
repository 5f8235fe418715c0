"""The upstream stub: the one server every host a test's handlers and sandboxes reach resolves to.

``UpstreamStub`` listens on one port of 127.0.0.1 and speaks HTTP/1.1 in the clear or over TLS, whichever the
client starts with (a TLS ClientHello begins with byte 0x16), so the single route ``connect_to = {"*": stub}``
(``emulator/upstream.py``) sends every host on every port here and nothing leaves the machine. TLS leaves are
minted per SNI from the stub's own throwaway CA (``ca.py``), which the emulator trusts through ``upstream_ca``.

Each request is recorded (``requests``, ``last``, ``received``) and answered by the newest matching rule
(``respond``, ``route``; a route that raises answers 500 and logs why, so the test's report shows it), else by
a small JSON echo of the method and the URL without its query. The echo leaves out headers, query and body on
purpose: those are where handlers put credentials, and a stub that reflected them would hand them to the
sandbox, spoiling the very assertion a credential test makes.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import json as jsonlib
import logging
import socket
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from emulator.ca import SandboxCA
from emulator.hosts import simple_glob_match

log = logging.getLogger("outbound")  # where the report section (report.py) picks failures up

TLS_HANDSHAKE_RECORD = 0x16  # the first byte of a TLS ClientHello (a TLS record of type handshake)
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_RECORDED_BODY_BYTES = 100 * 1024 * 1024  # Cloudflare's request body limit on the Free and Pro plans

_NO_JSON: Any = object()


@dataclass(frozen=True)
class UpstreamRequest:
    """One request the stub received: what a handler (or a passed-through sandbox request) sent upstream."""

    method: str
    url: str  # scheme://host[:port]/path?query, as the request named it
    scheme: str  # "http" or "https" (the connection was TLS)
    host: str  # from the Host header, lower case, without the port
    port: int
    path: str  # without the query
    query: str  # without the "?"
    headers: CIMultiDictProxy[str]  # case-insensitive: headers["Authorization"], headers.getall("x-a")
    body: bytes
    time: float = field(repr=False)  # when it arrived, seconds since the epoch

    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return jsonlib.loads(self.body)


@dataclass(frozen=True)
class StubResponse:
    """How the stub answers: ``StubResponse(json={...})``, ``StubResponse(404, "gone")``. ``json`` (any JSON
    value) replaces ``body`` and sets ``content-type: application/json``."""

    status: int = 200
    body: bytes | str = b""
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()
    json: Any = _NO_JSON

    def web_response(self) -> web.Response:
        headers = CIMultiDict(self.headers.items() if isinstance(self.headers, Mapping) else self.headers)
        body = self.body.encode() if isinstance(self.body, str) else self.body
        if self.json is not _NO_JSON:
            body = jsonlib.dumps(self.json).encode()
            headers.setdefault("content-type", "application/json")
        return web.Response(status=self.status, body=body, headers=headers)


Answer = StubResponse | Callable[[UpstreamRequest], StubResponse | Awaitable[StubResponse]]


@dataclass(frozen=True)
class _Rule:
    host: str  # a Cloudflare host pattern: "api.github.com", "*.github.com", "*"
    path: str  # an fnmatch pattern on the path: "/user", "/repos/*", "*"
    method: str | None
    answer: Answer

    def matches(self, request: UpstreamRequest) -> bool:
        return (
            simple_glob_match(self.host, request.host)
            and fnmatch.fnmatchcase(request.path, self.path)
            and self.method in (None, request.method)
        )


class UpstreamStub:
    """The stand-in for every upstream server (module docstring). Start it inside the event loop that serves
    it; ``connect_to`` and ``ca_file`` are what ``Emulator.load`` needs to send everything here."""

    def __init__(self) -> None:
        self.requests: list[UpstreamRequest] = []
        self._rules: list[_Rule] = []
        self._ca = SandboxCA.create("upstream stub")  # an in-memory CA of the same make as a sandbox's
        self._folder = tempfile.TemporaryDirectory(prefix="outbound-stub-")
        self.ca_file = Path(self._folder.name) / "upstream-stub-ca.pem"
        self.ca_file.write_bytes(self._ca.cert_pem)
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.sni_callback = self._choose_leaf
        self._runner: web.AppRunner | None = None
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- what tests use ----------------------------------------------------------------------------------
    @property
    def connect_to(self) -> dict[str, str]:
        """The ``connect_to`` that sends every host name, on every port, here."""
        return {"*": f"127.0.0.1:{self.port}"}

    def respond(
        self,
        host: str = "*",
        path: str = "*",
        *,
        method: str | None = None,
        status: int = 200,
        body: bytes | str = b"",
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        json: Any = _NO_JSON,
    ) -> None:
        """Answer requests for ``host`` (a pattern as in ``allowedHosts``: ``*.github.com``) and ``path`` (an
        fnmatch pattern, without the query) with this response. The newest matching rule answers."""
        self._rules.append(_Rule(host.lower(), path, _method(method), StubResponse(status, body, headers, json)))

    def route(
        self, host: str = "*", path: str = "*", *, method: str | None = None
    ) -> Callable[[Callable[[UpstreamRequest], Any]], Callable[[UpstreamRequest], Any]]:
        """Decorator: answer matching requests with the function's ``StubResponse`` (it may be async)."""

        def register(answer: Callable[[UpstreamRequest], Any]) -> Callable[[UpstreamRequest], Any]:
            self._rules.append(_Rule(host.lower(), path, _method(method), answer))
            return answer

        return register

    @property
    def last(self) -> UpstreamRequest:
        """The newest request received; an AssertionError when there was none."""
        if not self.requests:
            raise AssertionError("the upstream stub received no request")
        return self.requests[-1]

    def received(
        self, host: str | None = None, path: str | None = None, method: str | None = None
    ) -> list[UpstreamRequest]:
        """The requests received for ``host`` and ``path`` (patterns as in ``respond``) with ``method``."""
        rule = _Rule((host or "*").lower(), path or "*", _method(method), StubResponse())
        return [request for request in self.requests if rule.matches(request)]

    def reset(self) -> None:
        """Forget the requests received and the rules given (between tests)."""
        self.requests.clear()
        self._rules.clear()

    # -- serving -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        # A test may upload what production takes (100 MB); aiohttp's 1 MiB default would answer 413 for the stub.
        app = web.Application(client_max_size=MAX_RECORDED_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._keep(self._accept(listener), "outbound stub: accept")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._folder.cleanup()

    def _keep(self, coroutine: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            connection, _ = await loop.sock_accept(listener)
            self._keep(self._serve(connection), "outbound stub: connection")

    async def _serve(self, connection: socket.socket) -> None:
        # Peek at the first byte, then give the socket to aiohttp with or without TLS.
        loop = asyncio.get_running_loop()
        try:
            first = await _peek(loop, connection)
            if not first:
                connection.close()
                return
            assert self._runner is not None and self._runner.server is not None
            tls = self._tls if first[0] == TLS_HANDSHAKE_RECORD else None
            await loop.connect_accepted_socket(self._runner.server, connection, ssl=tls)
        except (OSError, ssl.SSLError):
            connection.close()  # a client that went away or a failed handshake: its problem, shown on its side

    def _choose_leaf(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        if server_name:
            connection.context = self._context_for(server_name)

    def _context_for(self, name: str) -> ssl.SSLContext:
        context = self._contexts.get(name)
        if context is None:
            leaf = self._ca.leaf(name)
            folder = Path(self._folder.name)
            cert, key = folder / f"{len(self._contexts)}.pem", folder / f"{len(self._contexts)}.key"
            cert.write_bytes(leaf.chain_pem)
            key.write_bytes(leaf.key_pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self._contexts[name] = context
        return context

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await _record(request)
        self.requests.append(recorded)
        rule = next((rule for rule in reversed(self._rules) if rule.matches(recorded)), None)
        if rule is None:
            return _echo(recorded).web_response()
        try:
            return (await _answer(rule, recorded)).web_response()
        except Exception as error:  # the test's own route code: say so in its report, answer 500
            message = f"upstream stub: the route for {rule.host} {rule.path} failed on {recorded.url}: {error!r}"
            log.error("%s", message)
            return web.Response(status=500, text=message)


async def _answer(rule: _Rule, request: UpstreamRequest) -> StubResponse:
    if isinstance(rule.answer, StubResponse):
        return rule.answer
    produced = rule.answer(request)
    answer = await produced if inspect.isawaitable(produced) else produced
    if not isinstance(answer, StubResponse):
        raise TypeError(f"it returned {type(answer).__name__}, not a StubResponse")
    return answer


def _method(method: str | None) -> str | None:
    return method.upper() if method is not None else None


async def _peek(loop: asyncio.AbstractEventLoop, connection: socket.socket) -> bytes:
    readable = loop.create_future()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(connection.fileno(), ready)
    try:
        await readable
    finally:
        loop.remove_reader(connection.fileno())
    return connection.recv(1, socket.MSG_PEEK)


async def _record(request: web.Request) -> UpstreamRequest:
    scheme = "https" if request.secure else "http"
    host_header = request.headers.get("Host", "")
    host, _, port = host_header.rpartition(":") if host_header.rpartition(":")[2].isdigit() else (host_header, "", "")
    path, _, query = request.raw_path.partition("?")
    return UpstreamRequest(
        method=request.method,
        url=f"{scheme}://{host_header}{request.raw_path}",
        scheme=scheme,
        host=host.lower(),
        port=int(port) if port else DEFAULT_PORTS[scheme],
        path=path,
        query=query,
        headers=CIMultiDictProxy(CIMultiDict(request.headers)),
        body=await request.read(),
        time=time.time(),
    )


def _echo(request: UpstreamRequest) -> StubResponse:
    port = "" if request.port == DEFAULT_PORTS[request.scheme] else f":{request.port}"
    url = f"{request.scheme}://{request.host}{port}{request.path}"
    return StubResponse(json={"upstream": "outbound stub", "method": request.method, "url": url})
