"""The one HTTP client between the emulator and the rest of the network.

A handler's ``fetch()`` (``runtime/host/fetch.py``) and the emulator's own passthrough both send requests
through ``Upstream``. It makes exactly one hop (following redirects is the caller's business) and sends the
request as given: no User-Agent, Accept or Accept-Encoding of its own, no cookie jar, no proxy taken from the
environment. Bodies stream in both directions and are never decompressed. Certificates are verified against
the system trust store plus an optional extra CA, and ``connect_to`` sends a host's connections to another
address (as curl's ``--connect-to``) while the Host header, TLS SNI and certificate verification keep the
name from the URL. The key ``*`` (or ``*:PORT``) reroutes every host name (on that port) that no other key
names: a test can keep all traffic on the machine. aiohttp connects to an IP literal without resolving it, so
a URL naming an IP that a route covers is refused (``InvalidRequest``) rather than sent past the route.

Given an ``Unreachable`` (``reach.py``; a handler's ``fetch()`` always has one), a destination production
egress cannot reach is refused before anything is dialled (``AddressRefused``): an IP literal in the URL, or
a name any of whose addresses is refused. The resolver checks the addresses it hands to aiohttp, and aiohttp
dials exactly those (from its DNS cache too, which only ever holds checked answers): there is no second
lookup to rebind. Names ``connect_to`` reroutes are not checked: the user chose where they go.

Failures are mapped once, here, from aiohttp's and the OS's exceptions::

    UpstreamError              a request could not be completed (the base; also an OutboundError)
    ├── ConnectFailed          no TCP connection: refused, unreachable or timed out
    ├── ConnectionLost         the connection broke or closed before the response was complete
    ├── NameNotResolved        DNS has no address for the host
    ├── CertificateRejected    the TLS handshake failed, certificate verification included
    ├── InvalidResponse        the server's answer is not HTTP/1.1
    ├── InvalidRequest         the request cannot be sent as given (URL or header refused)
    └── AddressRefused         the destination is this machine, a private network or cloud metadata
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from emulator.errors import OutboundError
from emulator.reach import Refusal, Unreachable, resolved_refusal

CONNECT_TIMEOUT_S = 30.0
# How much of a response aiohttp buffers before it stops reading the socket (backpressure).
READ_BUFFER_BYTES = 256 * 1024
# Response header lines longer than aiohttp's 8 KiB default are common (cookies, CSP); Workers takes 128 KiB.
MAX_HEADER_FIELD_BYTES = 128 * 1024
MAX_CONNECTIONS = 256
# Headers aiohttp would add on its own; a Worker's request carries none of them unless it set them.
SKIP_AUTO_HEADERS = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})

Body = bytes | AsyncIterable[bytes] | None


class UpstreamError(OutboundError):
    """A request to an upstream server could not be completed."""


class ConnectFailed(UpstreamError):
    """No TCP connection could be made: refused, unreachable or timed out."""


class ConnectionLost(UpstreamError):
    """The connection broke or was closed before the response was complete."""


class NameNotResolved(UpstreamError):
    """DNS has no address for the host."""


class CertificateRejected(UpstreamError):
    """The TLS handshake failed; most often the server's certificate did not verify."""


class InvalidResponse(UpstreamError):
    """The server's answer is not valid HTTP/1.1."""


class InvalidRequest(UpstreamError):
    """The request cannot be sent as given: aiohttp refuses its URL or a header."""


class AddressRefused(UpstreamError):
    """The destination is one production egress cannot reach (``reach.py``); nothing was dialled."""

    def __init__(self, reason: str, url: str = "") -> None:
        super().__init__(f"{url}: refused: {reason}" if url else reason)
        self.reason = reason  # "<host> is <why>" or "<name> resolves to <address>, <why>"


@dataclass(frozen=True)
class UpstreamOptions:
    """How upstream connections are made; read from the worker's INIT options (key ``upstream``)."""

    # "host:port" or "host" (any port) -> "address:port" or "address" (same port), like curl --connect-to;
    # "*" or "*:port": every host name no other key names (see ``rerouted``).
    connect_to: Mapping[str, str] = field(default_factory=dict)
    # A CA trusted in addition to the system's, e.g. a test CA or a corporate one.
    ca_file: Path | None = None

    @classmethod
    def from_init(cls, raw: Mapping[str, Any]) -> UpstreamOptions:
        """Checks the JSON the emulator sends; raises ValueError naming the bad key and value."""
        unknown = set(raw) - {"connect_to", "ca_file"}
        if unknown:
            raise ValueError(f"upstream options: unknown key(s) {sorted(unknown)}; expected connect_to, ca_file")
        connect_to = raw.get("connect_to") or {}
        if not isinstance(connect_to, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in connect_to.items()
        ):
            raise ValueError(
                f'upstream options: "connect_to" must map "host[:port]" to "address[:port]", got {connect_to!r}'
            )
        ca_file = raw.get("ca_file")
        if ca_file is not None and not isinstance(ca_file, str):
            raise ValueError(f'upstream options: "ca_file" must be a path, got {ca_file!r}')
        options = cls(connect_to=dict(connect_to), ca_file=Path(ca_file) if ca_file else None)
        parse_connect_to(options.connect_to)  # fail here, not on the first request
        return options


def _split_host_port(text: str, what: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise ValueError(f'{what} "{text}": an IPv6 address needs its closing "]"')
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f'{what} "{text}": expected ":port" after "]"')
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None
    if not host:
        raise ValueError(f'{what} "{text}": the host is empty')
    if port_text is None:
        return host.lower(), None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f'{what} "{text}": the port must be a number from 1 to 65535')
    return host.lower(), int(port_text)


Route = tuple[str, int | None]
ANY_HOST = "*"  # a connect_to key's host that stands for every host name


def parse_connect_to(connect_to: Mapping[str, str]) -> dict[Route, Route]:
    """``{"github.com:443": "127.0.0.1:8443"}`` → ``{("github.com", 443): ("127.0.0.1", 8443)}``."""
    routes: dict[Route, Route] = {}
    for key, value in connect_to.items():
        source = _split_host_port(key, f'connect_to key "{key}":')
        routes[source] = _split_host_port(value, f'connect_to["{key}"] =')
    return routes


def rerouted(routes: Mapping[Route, Route], host: str, port: int) -> tuple[str, int] | None:
    """Where ``connect_to`` sends a connection for ``host:port``, or None when it is not rerouted.

    The most specific key wins: ``host:port``, then ``host``, then ``*:port``, then ``*``.
    """
    name = host.lower().rstrip(".")
    target = (
        routes.get((name, port))
        or routes.get((name, None))
        or routes.get((ANY_HOST, port))
        or routes.get((ANY_HOST, None))
    )
    if target is None:
        return None
    return target[0], target[1] or port


class _ConnectToResolver(AbstractResolver):
    """Resolves rerouted hosts to their ``connect_to`` address; everything else the usual way, refusing (with
    ``refusal``) a name that is, or resolves to, an address that must not be dialled."""

    def __init__(self, routes: Mapping[Route, Route], refusal: Refusal | None, dns: AbstractResolver) -> None:
        self._routes = routes
        self._refusal = refusal
        self._fallback = dns

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        target = rerouted(self._routes, host, port)
        if target is None:
            return await self._checked(host, port, family)
        address, target_port = target
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            # A host name as target: resolve it, but keep the original name for SNI.
            found = await self._fallback.resolve(address, target_port, family)
            return [{**result, "hostname": host} for result in found]
        return [
            {
                "hostname": host,
                "host": str(ip),
                "port": target_port,
                "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
        ]

    async def _checked(self, host: str, port: int, family: socket.AddressFamily) -> list[ResolveResult]:
        if self._refusal is None:
            return await self._fallback.resolve(host, port, family)
        if why := self._refusal(host):  # localhost, *.localhost: refused by name, never looked up
            raise AddressRefused(f"{host} is {why}")
        found = await self._fallback.resolve(host, port, family)
        if why := resolved_refusal(self._refusal, host, [result["host"] for result in found]):
            raise AddressRefused(why)
        return found

    async def close(self) -> None:
        await self._fallback.close()


class UpstreamResponse:
    """One response: status line and headers at once, the body when asked for it.

    Read the body with ``read_chunk()`` (None at the end) or ``async for chunk in response.body``; then call
    ``release()`` so the connection can be reused, or ``close()`` to abandon a body that was not read to the end.
    """

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.reason = response.reason or ""
        # Names lower-cased; values decoded as UTF-8 as workerd hands them to JS (invalid bytes become U+FFFD).
        self.headers: list[tuple[str, str]] = [
            (name.decode("latin-1").lower(), value.decode("utf-8", "replace")) for name, value in response.raw_headers
        ]
        self._done = False

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def content_length(self) -> int | None:
        value = self.header("content-length")
        return int(value) if value is not None and value.strip().isdigit() else None

    async def read_chunk(self) -> bytes | None:
        """The next chunk of the body as it arrives (never empty), or None once it is complete."""
        if self._done:
            return None
        try:
            chunk = await self._response.content.readany()
        except Exception as error:  # every failure is mapped at this one boundary
            self.close()
            raise _map_error(error, str(self._response.url)) from error
        if not chunk:
            self._done = True
            return None
        return chunk

    @property
    def body(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self.read_chunk()) is not None:
            yield chunk

    async def read(self) -> bytes:
        """The whole body; for bodies known to be small."""
        return b"".join([chunk async for chunk in self.body])

    def release(self) -> None:
        """The body was read to the end: the connection goes back to the pool."""
        self._response.release()

    def close(self) -> None:
        """Abandon the response: the connection is closed, a pending read fails."""
        self._done = True
        self._response.close()


class Upstream:
    """HTTP client for one process; create it inside the running event loop's lifetime, close it at the end."""

    def __init__(
        self,
        options: UpstreamOptions = UpstreamOptions(),
        *,
        unreachable: Unreachable | None = None,
        dns: AbstractResolver | None = None,
    ) -> None:
        """``unreachable``: refuse the destinations it names (a handler's fetch()). ``dns``: the resolver for
        names ``connect_to`` does not reroute (a stand-in for DNS in tests; aiohttp's threaded one otherwise)."""
        self._routes = parse_connect_to(options.connect_to)
        self._unreachable = unreachable
        self._dns = dns
        self._ca_file = options.ca_file
        if self._ca_file is not None and not self._ca_file.is_file():
            raise ValueError(f'upstream options: "ca_file" {self._ca_file} does not exist or is not a file')
        self._session: aiohttp.ClientSession | None = None

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self._ca_file is not None:
            context.load_verify_locations(cafile=str(self._ca_file))
        return context

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._tls_context(),
                resolver=_ConnectToResolver(
                    self._routes,
                    self._unreachable.refusal if self._unreachable is not None else None,
                    self._dns or aiohttp.ThreadedResolver(),
                ),
                limit=MAX_CONNECTIONS,
                limit_per_host=0,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
                read_bufsize=READ_BUFFER_BYTES,
                max_field_size=MAX_HEADER_FIELD_BYTES,
                max_line_size=MAX_HEADER_FIELD_BYTES,
            )
        return self._session

    async def request(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: Body = None
    ) -> UpstreamResponse:
        """Sends one request and returns once the response's status and headers have arrived."""
        self._refuse_unroutable(url)
        try:
            self._refuse_unreachable(url)
            response = await self._client().request(
                method,
                yarl.URL(url, encoded=True),
                headers=list(headers),
                data=_payload(body),
                allow_redirects=False,
                skip_auto_headers=SKIP_AUTO_HEADERS,
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # every failure is mapped at this one boundary
            raise _map_error(error, url) from error
        return UpstreamResponse(response)

    def _refuse_unroutable(self, url: str) -> None:
        # aiohttp dials an IP literal directly, past the resolver that applies connect_to: a route that covers
        # the address (above all ``*``, meant to keep a test's traffic on the machine) must not be bypassed.
        if not self._routes:
            return
        try:
            parsed = yarl.URL(url, encoded=True)
            ip = ipaddress.ip_address(parsed.host or "")
        except ValueError:
            return
        if rerouted(self._routes, str(ip), parsed.port or 0) is not None:
            raise InvalidRequest(
                f"{url}: connect_to reroutes {ip}, but a URL naming an IP address cannot be rerouted; "
                "use a host name in the URL (or drop the route)"
            )

    def _refuse_unreachable(self, url: str) -> None:
        # aiohttp dials a host that looks like an IP address without asking the resolver (for IPv4 only the
        # canonical dotted form; anything with a colon counts as IPv6): such hosts are checked here.
        if self._unreachable is None:
            return
        host = yarl.URL(url, encoded=True).raw_host or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if ":" in host or host.replace(".", "").isdigit():  # aiohttp.helpers.is_ip_address
                raise AddressRefused(f"{host} is not an IP address that can be checked") from None
            return  # a name: the resolver checks it
        if why := self._unreachable.refusal(host):
            raise AddressRefused(f"{host} is {why}")

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _payload(body: Body) -> aiohttp.Payload | AsyncIterable[bytes] | None:
    """The body as aiohttp sends it. A bytes body over 1 MiB makes aiohttp warn (ResourceWarning, "might lock the
    event loop"): the body is already in memory and one transport write is what sending it costs, but the warning
    becomes an UpstreamError under ``-W error`` (pytest's filterwarnings), so the payload is made here without it."""
    if not isinstance(body, bytes):
        return body
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        return aiohttp.BytesPayload(body)


def _map_error(error: BaseException, url: str) -> UpstreamError:
    """aiohttp's and the OS's exceptions as the one ``UpstreamError`` that says what went wrong."""
    cause = str(error) or type(error).__name__
    if isinstance(error, AddressRefused):
        return AddressRefused(error.reason, url)
    if isinstance(error, UpstreamError):
        return error
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return NameNotResolved(f"{url}: no address for the host ({cause})")
    if isinstance(error, (aiohttp.ClientSSLError, ssl.SSLError)):
        return CertificateRejected(f"{url}: TLS handshake failed ({cause})")
    if isinstance(error, aiohttp.ClientConnectorError):
        return ConnectFailed(f"{url}: could not connect ({cause})")
    if isinstance(error, aiohttp.ClientResponseError):
        return InvalidResponse(f"{url}: invalid HTTP response ({cause})")
    if isinstance(error, (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError, asyncio.TimeoutError)):
        return ConnectionLost(f"{url}: connection lost ({cause})")
    if isinstance(error, (aiohttp.InvalidURL, ValueError)):
        return InvalidRequest(f"{url}: request refused ({cause})")
    return UpstreamError(f"{url}: {type(error).__name__}: {cause}")
