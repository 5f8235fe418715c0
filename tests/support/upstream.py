"""A local internet for tests: upstream HTTP(S) servers on 127.0.0.1 and throwaway certificate authorities.

Nothing a test sends ever leaves the machine. ``LocalInternet`` serves one recording app (``upstream_app``)
under a few names that ``UpstreamOptions.connect_to`` routes to 127.0.0.1, so URLs keep real host names:

    http://upstream.test/     the app over plain HTTP
    http://other.test/        the same server under another origin (cross-origin redirects)
    https://github.com/       the app over TLS, with a leaf for github.com from a CA the client trusts
    https://untrusted.test/   the app over TLS, with a leaf from a CA nobody trusts
    http://refused.test/      a port where nothing listens

Routes of ``upstream_app`` (``tag`` query parameters key what the recorder remembers):

    /echo                       JSON of the request: method, path, headers in order as received, body
    /redirect/{status}?location=L    that status with Location L (taken verbatim, so it may be relative)
    /chain/{n}                  302 to /chain/{n-1}; /chain/0 answers "end of chain"
    /status/{code}?reason=R     that status (and reason phrase) with a short text body
    /bytes/{size}?tag=T         size bytes in 64 KiB writes with Content-Length; counts what was written
    /sink                       reads a request body of any size as it comes (recorded without it); answers
                                {"received": bytes}
    /chunked?parts=a,b          the parts as separate chunks, without Content-Length
    /drip?tag=T                 a chunk every 20 ms until the client goes away; records that it went away
    /progress?tag=T             JSON {"written": bytes written for T, "gone": whether T's client went away}
    /truncated?promise=P&send=S promises P bytes (default 1000), sends S (default 10) and closes the connection
    /gzip                       a gzip body with Content-Encoding: gzip
    /cookies                    two Set-Cookie headers and a custom header
    /slow                       answers after 10 s (for aborting before the head arrives)
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CHUNK_BYTES = 64 * 1024
DRIP_INTERVAL_S = 0.02


# -- certificates ----------------------------------------------------------------------------------------


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class LeafCertificate:
    cert_pem: bytes
    key_pem: bytes

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context presenting this leaf."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="outbound-leaf-") as folder:
            cert, key = Path(folder, "leaf.pem"), Path(folder, "leaf.key")
            cert.write_bytes(self.cert_pem)
            key.write_bytes(self.key_pem)
            context.load_cert_chain(cert, key)
        return context


@dataclass(frozen=True)
class ThrowawayCA:
    """A certificate authority made for one test run (EC P-256, so creating one takes a millisecond)."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write_pem(self, path: Path) -> Path:
        path.write_bytes(self.pem)
        return path

    def issue_leaf(self, *hostnames: str) -> LeafCertificate:
        """A server certificate for ``hostnames`` (DNS names or IP addresses), signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for name in hostnames:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                names.append(x509.DNSName(name))
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return LeafCertificate(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def create_throwaway_ca(common_name: str = "outbound test CA") -> ThrowawayCA:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return ThrowawayCA(cert, key)


# -- the recording app -----------------------------------------------------------------------------------


@dataclass
class UpstreamRecorder:
    """What the app saw, for assertions the response alone cannot show."""

    written: dict[str, int] = field(default_factory=dict)
    gone: dict[str, bool] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)


def _pattern(size: int) -> bytes:
    block = bytes(range(256)) * (CHUNK_BYTES // 256)
    return (block * (size // len(block) + 1))[:size]


def upstream_app(recorder: UpstreamRecorder) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        seen = {
            "method": request.method,
            "path": request.raw_path,
            "headers": [[k.decode("latin-1"), v.decode("utf-8", "replace")] for k, v in request.raw_headers],
            "body": body.decode("utf-8", "replace"),
            "bodyLength": len(body),
        }
        recorder.requests.append(seen)
        return web.json_response(seen)

    async def record(request: web.Request) -> web.Response:
        # Like /echo, but answers without reflecting anything: what a credential test needs.
        body = await request.read()
        recorder.requests.append(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": [[k.decode("latin-1"), v.decode("utf-8", "replace")] for k, v in request.raw_headers],
                "body": body.decode("utf-8", "replace"),
                "bodyLength": len(body),
            }
        )
        return web.json_response({"recorded": True})

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            if message.type == web.WSMsgType.TEXT:
                await socket.send_str(f"echo: {message.data}")
        return socket

    async def redirect(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        return web.Response(status=status, headers={"Location": request.query["location"]}, text="redirecting")

    async def chain(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(text="end of chain")
        return web.Response(status=302, headers={"Location": f"/chain/{n - 1}"})

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        reason = request.query.get("reason")
        text = None if code in (204, 304) else f"status {code}"
        return web.Response(status=code, reason=reason, text=text)

    async def sized_bytes(request: web.Request) -> web.StreamResponse:
        size = int(request.match_info["size"])
        tag = request.query.get("tag", "")
        data = _pattern(size)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = size
        await response.prepare(request)
        recorder.written[tag] = 0
        for offset in range(0, size, CHUNK_BYTES):
            await response.write(data[offset : offset + CHUNK_BYTES])
            recorder.written[tag] += min(CHUNK_BYTES, size - offset)
        await response.write_eof()
        return response

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in request.query.get("parts", "").split(","):
            await response.write(part.encode())
            await asyncio.sleep(0.005)
        await response.write_eof()
        return response

    async def drip(request: web.Request) -> web.StreamResponse:
        tag = request.query.get("tag", "")
        response = web.StreamResponse()
        await response.prepare(request)
        recorder.gone[tag] = False
        recorder.written[tag] = 0
        try:
            while True:
                await response.write(b"drip\n")
                recorder.written[tag] += 5
                await asyncio.sleep(DRIP_INTERVAL_S)
        except (ConnectionError, asyncio.CancelledError):
            recorder.gone[tag] = True
            raise
        return response

    async def progress(request: web.Request) -> web.Response:
        tag = request.query.get("tag", "")
        return web.json_response({"written": recorder.written.get(tag, 0), "gone": recorder.gone.get(tag, False)})

    async def truncated(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = int(request.query.get("promise", 1000))
        await response.prepare(request)
        await response.write(_pattern(int(request.query.get("send", 10))))
        assert request.transport is not None
        request.transport.close()
        return response

    async def gzipped(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(b"hello gzip"), headers={"Content-Encoding": "gzip"})

    async def cookies(request: web.Request) -> web.Response:
        response = web.Response(text="cookies")
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2; Path=/")
        response.headers.add("X-Custom", "custom value")
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(text="slow")

    async def sink(request: web.Request) -> web.Response:
        received = 0  # read as it comes: request.read() would refuse a body past client_max_size (1 MiB)
        async for chunk in request.content.iter_any():
            received += len(chunk)
        recorder.requests.append({"method": request.method, "path": request.raw_path, "bodyLength": received})
        return web.json_response({"received": received})

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/record", record)
    app.router.add_get("/ws", websocket)
    app.router.add_route("*", "/redirect/{status}", redirect)
    app.router.add_route("*", "/chain/{n}", chain)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_get("/bytes/{size}", sized_bytes)
    app.router.add_post("/sink", sink)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/drip", drip)
    app.router.add_get("/progress", progress)
    app.router.add_get("/truncated", truncated)
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/slow", slow)
    return app


# -- servers ---------------------------------------------------------------------------------------------


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def unused_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections to it are refused)."""
    with _bound_socket() as sock:
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    port: int
    close: Callable[[], Awaitable[None]]


async def start_server(app: web.Application, tls: ssl.SSLContext | None = None) -> RunningServer:
    """Serves ``app`` on 127.0.0.1 at a free port (over TLS with ``tls``) on the running event loop."""
    # handler_cancellation: a handler stops when its client goes away (so /drip and /slow end with the test).
    runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None, handler_cancellation=True)
    await runner.setup()
    sock = _bound_socket()
    port = int(sock.getsockname()[1])
    await web.SockSite(runner, sock, ssl_context=tls).start()
    return RunningServer(port=port, close=runner.cleanup)


class LocalInternet:
    """The servers and names described in the module docstring; ``async with LocalInternet(folder)``."""

    HTTP = "http://upstream.test"
    OTHER = "http://other.test"
    HTTPS = "https://github.com"
    UNTRUSTED = "https://untrusted.test"
    REFUSED = "http://refused.test"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.recorder = UpstreamRecorder()
        self.ca = create_throwaway_ca()
        self.ca_file = self.ca.write_pem(folder / "upstream-ca.pem")
        self._servers: list[RunningServer] = []
        self.connect_to: dict[str, str] = {}

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        stranger = create_throwaway_ca("a CA nobody trusts")
        app = upstream_app(self.recorder)
        http = await start_server(app)
        https = await start_server(app, self.ca.issue_leaf("github.com").server_context())
        untrusted = await start_server(app, stranger.issue_leaf("untrusted.test").server_context())
        self._servers = [http, https, untrusted]
        self.connect_to = {
            "upstream.test": f"127.0.0.1:{http.port}",
            "other.test": f"127.0.0.1:{http.port}",
            "github.com:443": f"127.0.0.1:{https.port}",
            "untrusted.test:443": f"127.0.0.1:{untrusted.port}",
            "refused.test": f"127.0.0.1:{unused_port()}",
        }

    def upstream_options(self) -> dict[str, Any]:
        """The ``upstream`` worker option (and ``UpstreamOptions.from_init`` input) that reaches these servers."""
        return {"connect_to": dict(self.connect_to), "ca_file": str(self.ca_file)}

    def env(self) -> dict[str, str]:
        return {
            "UPSTREAM_HTTP": self.HTTP,
            "UPSTREAM_OTHER": self.OTHER,
            "UPSTREAM_HTTPS": self.HTTPS,
            "UPSTREAM_UNTRUSTED": self.UNTRUSTED,
            "UPSTREAM_REFUSED": self.REFUSED,
        }

    async def close(self) -> None:
        for server in self._servers:
            await server.close()
        self._servers = []


def echoed(body: bytes) -> dict[str, Any]:
    """The request ``/echo`` saw, from its response body."""
    result: dict[str, Any] = json.loads(body)
    return result
