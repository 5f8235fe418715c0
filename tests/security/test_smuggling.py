"""Framing and parsing differentials, and what a handler sees of a path (threat model §5.12), in both capture
modes. Nothing the sandbox frames ambiguously may reach an upstream; a handler cannot inject a header."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import DevServer
from tests.security.conftest import Upstreams, plain, raw

pytestmark = pytest.mark.e2e


def mitmproxy_400(answer: str, why: str) -> None:
    assert answer.startswith("HTTP/1.1 400 Bad Request\r\nServer: mitmproxy"), answer
    assert why in answer, answer


async def test_content_length_with_chunked_is_refused(dev: DevServer, upstreams: Upstreams) -> None:
    """CL.TE: the chunked body ends at once and a `GET` for evil.test follows it. mitmproxy refuses the
    request (validate_inbound_headers) before any byte moves: neither request arrives anywhere."""
    request = (
        b"POST /echo HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /echo HTTP/1.1\r\nHost: evil.test\r\n\r\n"
    )
    answer = await raw(dev, "cl-te", "allowed.test:80", plain(dev, "allowed.test", request))
    mitmproxy_400(answer, "both transfer-encoding and content-length")
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []


async def test_two_content_lengths_are_refused(dev: DevServer, upstreams: Upstreams) -> None:
    request = b"POST /echo HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd"
    answer = await raw(dev, "cl-cl", "allowed.test:80", plain(dev, "allowed.test", request))
    mitmproxy_400(answer, "invalid content-length header: &#x27;4, 40&#x27;")
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []


async def test_obs_fold_is_refused(dev: DevServer, upstreams: Upstreams) -> None:
    """A folded header line. mitmproxy accepts it and kept the fold inside the value, so the request used to go
    upstream still folded (the upstream read other headers than the ones decided on; aiohttp answered 400
    itself). The emulator now refuses it before deciding (addons/outbound.py)."""
    request = b"GET /echo HTTP/1.1\r\nHost: allowed.test\r\nX-A: b\r\n Host: evil.test\r\n\r\n"
    answer = await raw(dev, "fold", "allowed.test:80", plain(dev, "allowed.test", request))
    assert answer == (
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain;charset=UTF-8\r\ncontent-length: 91\r\n\r\n"
        "outbound: a request header is folded over lines (obs-fold); the request was not forwarded.\n"
    )
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []


async def test_bare_lf_is_read_once_and_forwarded_canonical(dev: DevServer, upstreams: Upstreams) -> None:
    """Lines ending in a bare LF. mitmproxy does not refuse them (RFC 9112 §2.2 allows a recipient to accept
    LF): it parses the head once, decides on that Host, and sends the upstream a re-serialised head with CRLF,
    so the upstream reads the very headers that were decided on. With `Host: evil.test` it is denied."""
    request = b"GET /echo HTTP/1.1\nHost: allowed.test\nX-A: b\n\n"
    answer = await raw(dev, "lf", "allowed.test:80", plain(dev, "allowed.test", request))
    assert answer.startswith("HTTP/1.1 200 OK\r\n"), answer
    [seen] = upstreams.allowed.requests
    assert seen["headers"] == [["Host", "allowed.test"], ["X-A", "b"]]
    evil = b"GET /echo HTTP/1.1\nHost: evil.test\n\n"
    denied = await raw(dev, "lf", "allowed.test:80", plain(dev, "allowed.test", evil))
    assert denied.startswith("HTTP/1.1 520 \r\n") and denied.endswith("Origin is disallowed"), denied
    assert len(upstreams.allowed.requests) == 1 and upstreams.evil.requests == []


async def test_a_handler_cannot_inject_a_header(dev: DevServer, upstreams: Upstreams) -> None:
    """The crlf.test handler sets `x-injected: a\\r\\nX-Smuggled: 1` and fetches allowed.test. `Headers.set`
    throws a TypeError, as in Workers; the sandbox gets a 500 naming the handler and where it threw, and
    nothing is fetched."""
    request = b"GET / HTTP/1.1\r\nHost: crlf.test\r\n\r\n"
    answer = await raw(dev, "crlf", "crlf.test:80", plain(dev, "crlf.test", request))
    assert answer.startswith("HTTP/1.1 500 Internal Server Error\r\n"), answer
    assert answer.endswith(
        'outbound: the outbound handler outboundByHost["crlf.test"] of Guarded threw TypeError at '
        "src/index.ts:19:13; fix the handler or catch the error and return a Response. The request was not "
        "forwarded.\n"
    )
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []


@pytest.mark.parametrize("path", ["/public/../admin", "/public/%2e%2e/admin", "/public/%2E%2E/admin"])
async def test_a_handler_sees_the_path_as_sent(dev: DevServer, upstreams: Upstreams, path: str) -> None:
    """Dot segments, plain or percent-encoded, reach a handler exactly as the sandbox sent them:
    `request.url` is `http://handled.test` + the path, not normalised. A handler with path-based rules has to
    normalise it itself (`new URL(request.url).pathname` resolves both to `/admin`)."""
    request = f"GET {path} HTTP/1.1\r\nHost: handled.test\r\n\r\n".encode()
    answer = await raw(dev, "paths", "handled.test:80", plain(dev, "handled.test", request))
    head, _, rest = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200 OK"), answer
    assert json.loads(rest) == {"handler": "handled.test", "url": f"http://handled.test{path}", "host": "handled.test"}
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []
