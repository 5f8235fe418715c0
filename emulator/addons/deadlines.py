"""Slow clients: a request head that trickles in (slowloris) and a body too slow to be worth holding for a handler.

mitmproxy closes a connection only after 10 minutes without a byte, so a client that sends a header byte every
few seconds keeps its connection, and whatever the proxy holds for it, for ever. Cloudflare documents no limit
here (the egress path is workerd's own HTTP server), so the emulator fails closed with two of its own, in
``ConnectionLimits``:

- a request head (request line and headers, or a TLS ClientHello, or the first HTTP head after a TLS handshake)
  must be complete within ``head_timeout_s`` of its first byte;
- a request body that the emulator buffers (one going to a handler) must arrive at ``min_body_bytes_per_s`` on
  average once ``head_timeout_s`` has passed.

Past either, the connection is closed, with a 408 whose body says why where the connection still speaks plain
HTTP (no 408 can be written into TLS from here), a warning in the log, and an audit record when the connection
belongs to a sandbox. Connections that send nothing are not timed here: they cost a descriptor and ~15 KiB each
(tests/faults/test_floods.py) until mitmproxy's inactivity timeout; ``raise_descriptor_limit`` gives the process
room for them. Connections that become tunnels (bytes passed through, WebSockets, HTTP/2) are no longer timed.

No mitmproxy hook sees bytes before a head is complete, so the client's reader is wrapped to note when the first
byte of a head arrives; the connection's handler comes from mitmproxy's ``proxyserver`` addon (mitmproxy 11).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mitmproxy import connection, ctx, http
from mitmproxy.proxy import layer, layers
from mitmproxy.tls import ClientHelloData

from emulator.audit import AuditLog, AuditRecord

log = logging.getLogger("outbound")

HEAD_TIMEOUT_STEP = "request head timeout"
DEADLINE_KEY = "outbound.deadline"  # on a flow whose connection was closed here: (status or None, why)
_KEPT = 256  # bytes of an incomplete head kept, for its request line in the log and the audit record
_TLS_HANDSHAKE = 0x16  # the first byte of a TLS record carrying a handshake (a ClientHello)


@dataclass(frozen=True)
class ConnectionLimits:
    """How long the proxy waits for slow clients; both apply per connection."""

    head_timeout_s: float = 30.0  # nginx's client_header_timeout is 60 s, Apache's mod_reqtimeout 20-40 s
    min_body_bytes_per_s: int = 1024  # averaged from the head's arrival, checked once head_timeout_s has passed


def head_timeout_text(limits: ConnectionLimits) -> str:
    return (
        f"outbound: the request head (request line and headers) did not arrive within {limits.head_timeout_s:g} s "
        "of its first byte, so the connection was closed. Send each request's head at once: a client that "
        "trickles headers ties up the proxy (slowloris).\n"
    )


def body_timeout_text(limits: ConnectionLimits) -> str:
    return (
        f"outbound: the request body arrived at less than {limits.min_body_bytes_per_s} bytes/s, so the connection "
        "was closed. A handler gets the whole body before it runs, and the proxy holds it meanwhile: send the body "
        "at network speed, or send less.\n"
    )


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit (often 1024 → 524288): each connection a
    sandbox holds open is a descriptor, and at the soft limit mitmproxy stops accepting for every sandbox.
    Returns (soft, hard) as they are now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class _Watch:
    """One client connection, as far as deadlines go."""

    __slots__ = ("body_bytes", "body_since", "client", "first", "handler", "head_since", "target", "tls", "writer")

    def __init__(self, client: connection.Client, handler: Any) -> None:
        self.client = client
        self.handler = handler  # mitmproxy's ProxyConnectionHandler
        self.writer: Any = handler.transports[client].writer
        self.head_since: float | None = None  # the first byte of a head that is not complete yet
        self.first = b""  # the first bytes of that head (for the 408 decision and the audit record)
        self.body_since: float | None = None  # a buffered body is being read since
        self.body_bytes = 0
        self.tls = False  # TLS was intercepted: the bytes are encrypted, no 408 can be written
        self.target = ""  # where a CONNECT (or, transparent, the captured connection) was going: host:port
        if client.proxy_mode.type_name == "transparent" and client.sockname:
            self.target = f"{client.sockname[0]}:{client.sockname[1]}"


class _TimedReader:
    """The client's reader, noting when a head's first byte and a buffered body's bytes arrive."""

    def __init__(self, reader: Any, watch: _Watch, armed: dict[str, _Watch]) -> None:
        self._reader = reader
        self._watch = watch
        self._armed = armed

    async def read(self, n: int) -> bytes:
        data: bytes = await self._reader.read(n)
        watch = self._watch
        if watch.body_since is not None:
            watch.body_bytes += len(data)
        elif watch.head_since is not None:
            if len(watch.first) < _KEPT:
                watch.first += data[: _KEPT - len(watch.first)]
        elif data and watch.client.id in self._armed:
            watch.head_since = time.monotonic()
            watch.first = data[:_KEPT]
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


class Deadlines:
    def __init__(
        self, limits: ConnectionLimits, audit: AuditLog, sandbox_for: Callable[[connection.Client], str | None]
    ) -> None:
        self.limits = limits
        self._audit = audit
        self._sandbox_for = sandbox_for
        self._watches: dict[str, _Watch] = {}  # every timed connection, by client id
        self._waiting: dict[str, _Watch] = {}  # those between exchanges (a head may start)
        self._bodies: dict[str, tuple[_Watch, http.HTTPFlow]] = {}  # those whose body is being buffered
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def running(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="outbound-deadlines")

    def done(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()

    def client_connected(self, client: connection.Client) -> None:
        proxyserver: Any = ctx.master.addons.get("proxyserver")
        handler = proxyserver.connections.get(client.id) if proxyserver is not None else None
        if handler is None or client.transport_protocol != "tcp" or client.id in self._watches:
            return
        watch = _Watch(client, handler)
        io = handler.transports[client]
        io.reader = _TimedReader(io.reader, watch, self._waiting)
        self._watches[client.id] = self._waiting[client.id] = watch

    def client_disconnected(self, client: connection.Client) -> None:
        self._untime(client.id)

    # -- heads -------------------------------------------------------------------------------------------
    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._head_complete(flow.client_conn.id)  # what follows is the tunnel's first head (a ClientHello)
        if (watch := self._watches.get(flow.client_conn.id)) is not None:
            watch.target = f"{flow.request.host}:{flow.request.port}"

    def tls_clienthello(self, data: ClientHelloData) -> None:
        client_id = data.context.client.id
        if data.ignore_connection:
            self._untime(client_id)  # passed through as bytes
            return
        self._head_complete(client_id)
        if (watch := self._watches.get(client_id)) is not None:
            watch.tls = True

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        if isinstance(nextlayer.layer, layers.TCPLayer):
            self._untime(nextlayer.context.client.id)  # bytes passed through: no heads to time

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        client_id = flow.client_conn.id
        if flow.request.http_version == "HTTP/2.0":
            self._untime(client_id)  # streams interleave: HTTP/2 keeps its own framing
            return
        self._head_complete(client_id)
        watch = self._waiting.pop(client_id, None)
        if watch is not None and not flow.request.stream:
            watch.body_since, watch.body_bytes = time.monotonic(), 0
            self._bodies[client_id] = (watch, flow)

    def request(self, flow: http.HTTPFlow) -> None:
        entry = self._bodies.pop(flow.client_conn.id, None)
        if entry is not None:
            entry[0].body_since = None  # the body is complete

    def response(self, flow: http.HTTPFlow) -> None:
        self._exchange_done(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._exchange_done(flow)

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self._untime(flow.client_conn.id)

    def _head_complete(self, client_id: str) -> None:
        watch = self._watches.get(client_id)
        if watch is not None:
            watch.head_since, watch.first = None, b""

    def _exchange_done(self, flow: http.HTTPFlow) -> None:
        client_id = flow.client_conn.id
        self._bodies.pop(client_id, None)
        watch = self._watches.get(client_id)
        if watch is not None:
            watch.body_since = None
            self._waiting[client_id] = watch

    def _untime(self, client_id: str) -> None:
        self._watches.pop(client_id, None)
        self._waiting.pop(client_id, None)
        self._bodies.pop(client_id, None)

    # -- enforcing -----------------------------------------------------------------------------------------
    async def _sweep(self) -> None:
        limits = self.limits
        interval = min(1.0, limits.head_timeout_s / 4)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for watch in [w for w in self._waiting.values() if w.head_since is not None]:
                assert watch.head_since is not None
                if now - watch.head_since > limits.head_timeout_s:
                    self._close_slow_head(watch, now - watch.head_since)
            for watch, flow in list(self._bodies.values()):
                assert watch.body_since is not None
                elapsed = now - watch.body_since
                if elapsed > limits.head_timeout_s and watch.body_bytes < elapsed * limits.min_body_bytes_per_s:
                    self._close_slow_body(watch, flow, elapsed)

    def _close_slow_head(self, watch: _Watch, waited: float) -> None:
        plain = not watch.tls and watch.first[:1] != bytes([_TLS_HANDSHAKE])
        why = head_timeout_text(self.limits)
        sandbox = self._sandbox_for(watch.client)
        peer = watch.client.peername
        log.warning(
            "closed a connection from %s (%s): its request head was still incomplete after %.1f s (%d bytes: %r)",
            f"{peer[0]}:{peer[1]}" if peer else "?",
            f"sandbox {sandbox}" if sandbox else "no sandbox known yet",
            waited,
            len(watch.first),
            watch.first[:60],
        )
        if sandbox is not None:
            method, url = _request_line(watch.first)
            if not method and watch.target:  # TLS, or bytes that are no request line: the connection's target
                method, url = "CONNECT", f"https://{watch.target}" if not plain else f"tcp://{watch.target}"
            self._audit.add_soon(
                AuditRecord(
                    time=time.time() - waited,
                    sandbox=sandbox,
                    method=method,
                    url=url,
                    step=HEAD_TIMEOUT_STEP,
                    handler=None,
                    status=408 if plain else None,
                    duration_ms=waited * 1000,
                    request_bytes=None,
                    response_bytes=None,
                    error=why.removeprefix("outbound: ").strip(),
                )
            )
        self._close(watch, why if plain else None)

    def _close_slow_body(self, watch: _Watch, flow: http.HTTPFlow, elapsed: float) -> None:
        why = body_timeout_text(self.limits)
        plain = not watch.tls
        log.warning(
            "closed %s's upload to %s: %d body bytes in %.1f s",
            self._sandbox_for(watch.client) or "a connection",
            flow.request.pretty_url,
            watch.body_bytes,
            elapsed,
        )
        flow.metadata[DEADLINE_KEY] = (408 if plain else None, why.removeprefix("outbound: ").strip())
        self._close(watch, why if plain else None)

    def _close(self, watch: _Watch, text: str | None) -> None:
        self._untime(watch.client.id)
        if text is not None and not watch.writer.is_closing():
            body = text.encode()
            watch.writer.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain;charset=UTF-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
        io = watch.handler.transports.get(watch.client)
        if io is not None and io.handler is not None:
            io.handler.cancel("deadline")  # as mitmproxy's own inactivity timeout does; the writer flushes, then closes


def _request_line(first: bytes) -> tuple[str, str]:
    """Method and target of a partial head, when its request line arrived whole; else ("", "")."""
    line, found, _ = first.partition(b"\r\n")
    parts = line.split(b" ")
    if not found or len(parts) != 3 or not parts[0].isalpha():
        return "", ""
    return parts[0].decode("ascii", "replace"), parts[1].decode("ascii", "replace")
