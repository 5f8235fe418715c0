"""Bypass tests against a real `outbound dev` (threat model §5.4, §5.10, §5.12).

Two upstreams stand in for the internet, each with its own recorder, so a test can say not only what the
sandbox got but where a request went: ``allowed.test`` (and ``handled.test``, ``crlf.test``) is one server,
``evil.test`` another, both over HTTP and HTTPS (leaves from the LocalInternet CA, which the emulator trusts).
Sandboxes belong to ``Guarded`` (fixtures/handlers/security): allowedHosts allowed.test, deniedHosts evil.test,
interceptHttps. Raw requests are sent from inside the sandbox by ``RAW`` (python3 sockets), which speaks to
the destination directly (namespace capture) or through the explicit proxy named in HTTP_PROXY.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import DevServer, Result, namespaces_available, start_dev, traversable_folder
from tests.support.upstream import LocalInternet, RunningServer, UpstreamRecorder, start_server, upstream_app

ROOT = Path(__file__).resolve().parents[2]
SECURITY = ROOT / "fixtures" / "handlers" / "security"
PYTHON = "/usr/bin/python3"
MODES = ["namespace", "explicit"]

pytestmark = pytest.mark.e2e

# Sends argv[4] (base64) to argv[2] ("host:port"), over TLS with SNI argv[3] ("-": plain), directly or, when
# HTTP_PROXY is set, through that proxy (a CONNECT for TLS, Proxy-Authorization on plain requests). Prints the
# answer's bytes as received: one response with a Content-Length, or up to the connection's end or a 5 s
# silence.
RAW = r"""
import base64, os, socket, ssl, sys
from urllib.parse import urlsplit
target, sni, payload = sys.argv[1], sys.argv[2], base64.b64decode(sys.argv[3])
host, port = target.rsplit(":", 1)
proxy = os.environ.get("HTTP_PROXY")
if proxy:
    parts = urlsplit(proxy)
    auth = "Basic " + base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    if sni != "-":
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: {auth}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert b" 200 " in head.split(b"\r\n")[0], head
    else:
        line, rest = payload.split(b"\n", 1)
        eol = b"\r\n" if line.endswith(b"\r") else b"\n"  # keep a bare-LF request bare
        payload = line + b"\nProxy-Authorization: " + auth.encode() + eol + rest
else:
    sock = socket.create_connection((host, int(port)), timeout=5)
if sni != "-":
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # where it goes matters here, not trust
    sock = context.wrap_socket(sock, server_hostname=sni)
sock.sendall(payload)
answer = b""

def complete(data):
    # One whole response with a Content-Length: no need to wait for a keep-alive connection to go quiet.
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n")[1:] if line.lower().startswith(b"content-length:")]
    return len(lengths) == 1 and len(body) >= int(lengths[0])

try:
    while not complete(answer) and (chunk := sock.recv(65536)):
        answer += chunk
except (TimeoutError, socket.timeout, ConnectionResetError, ssl.SSLError):
    pass
sys.stdout.write(answer.decode("latin-1"))
"""


@dataclass
class Upstreams:
    """The allowed and the evil server, each with what it received."""

    allowed: UpstreamRecorder
    evil: UpstreamRecorder

    def clear(self) -> None:
        self.allowed.requests.clear()
        self.evil.requests.clear()


@pytest.fixture(scope="module")
async def internet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[LocalInternet, Upstreams]]:
    upstreams = Upstreams(UpstreamRecorder(), UpstreamRecorder())
    servers: list[RunningServer] = []
    async with LocalInternet(tmp_path_factory.mktemp("internet")) as local:
        try:
            for recorder, names in (
                (upstreams.allowed, ("allowed.test", "handled.test", "crlf.test")),
                (upstreams.evil, ("evil.test",)),
            ):
                app = upstream_app(recorder)
                http = await start_server(app)
                https = await start_server(app, local.ca.issue_leaf(*names).server_context())
                servers += [http, https]
                for name in names:
                    local.connect_to[name] = f"127.0.0.1:{http.port}"
                    local.connect_to[f"{name}:443"] = f"127.0.0.1:{https.port}"
            yield local, upstreams
        finally:
            for server in servers:
                await server.close()


@pytest.fixture(scope="module", params=MODES)
async def dev(request: pytest.FixtureRequest, internet: tuple[LocalInternet, Upstreams]) -> AsyncIterator[DevServer]:
    mode = str(request.param)
    if mode == "namespace" and not namespaces_available():
        pytest.skip("needs root, network namespaces and nftables")
    server = await start_dev(SECURITY, traversable_folder(f"security-{mode}"), internet[0], mode)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def upstreams(internet: tuple[LocalInternet, Upstreams]) -> Upstreams:
    internet[1].clear()
    return internet[1]


def plain(dev: DevServer, host: str, request: bytes) -> bytes:
    """An origin-form ``request`` for ``host`` as the sandbox sends it: as is when its connection is captured,
    in absolute form (``http://host/path``) to the explicit proxy."""
    if dev.capture != "explicit":
        return request
    method, rest = request.split(b" ", 1)
    return method + b" http://" + host.encode() + rest


async def raw(dev: DevServer, sandbox: str, target: str, payload: bytes, sni: str | None = None) -> str:
    """``payload`` sent as is from inside ``sandbox`` to ``target`` (over TLS with ``sni``); the answer."""
    encoded = base64.b64encode(payload).decode()
    result: Result = await dev.run(sandbox, PYTHON, "-c", RAW, target, sni or "-", encoded, cls="Guarded")
    assert result.code == 0, result
    return result.stdout
