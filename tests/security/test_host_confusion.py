"""Host, SNI and request-target disagreeing (threat model §5.4), in both capture modes.

The decision uses the hostname of the URL a handler would see, which contract §2.2 builds from the Host header
(an absolute-form target is used as is); a passthrough goes to that URL's host, never to the address or SNI
the connection named. HTTPS is decrypted when the class's glob matches the SNI (interceptHttps: ``*``).
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import DevServer
from tests.security.conftest import Upstreams, plain, raw

pytestmark = pytest.mark.e2e

DENIED = "HTTP/1.1 520 \r\ncontent-type: text/plain;charset=UTF-8\r\ncontent-length: 20\r\n\r\nOrigin is disallowed"


def body(answer: str) -> dict[str, object]:
    head, _, rest = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), answer
    result: dict[str, object] = json.loads(rest)
    return result


def host_seen(upstreams: Upstreams) -> list[str]:
    return [value for seen in upstreams.allowed.requests for key, value in seen["headers"] if key.lower() == "host"]


async def test_sni_evil_on_a_connection_to_allowed(dev: DevServer, upstreams: Upstreams) -> None:
    """TLS to allowed.test:443 (a CONNECT allowed.test:443 through the proxy) whose ClientHello names evil.test.
    The `*` HTTPS glob matches the SNI, so it is decrypted; the decision and the passthrough then follow the
    Host header (contract §2.2), so `Host: evil.test` is denied and `Host: allowed.test` reaches allowed.test's
    server, dialled with SNI allowed.test. evil.test's server hears nothing either way."""
    denied = await raw(dev, "sni-1", "allowed.test:443", b"GET /echo HTTP/1.1\r\nHost: evil.test\r\n\r\n", "evil.test")
    assert denied == DENIED
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []
    passed = await raw(
        dev, "sni-1", "allowed.test:443", b"GET /echo HTTP/1.1\r\nHost: allowed.test\r\n\r\n", "evil.test"
    )
    assert body(passed)["path"] == "/echo"
    assert host_seen(upstreams) == ["allowed.test"] and upstreams.evil.requests == []


async def test_sni_allowed_with_host_evil_is_denied(dev: DevServer, upstreams: Upstreams) -> None:
    """SNI allowed.test, `Host: evil.test` inside the tunnel: the handler URL is https://evil.test/ (from the
    Host header, contract §2.2), so deniedHosts answers 520 and nothing goes to either server."""
    answer = await raw(
        dev, "sni-2", "allowed.test:443", b"GET /echo HTTP/1.1\r\nHost: evil.test\r\n\r\n", "allowed.test"
    )
    assert answer == DENIED
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []


async def test_absolute_form_with_another_host_header(dev: DevServer, upstreams: Upstreams) -> None:
    """`GET http://allowed.test/echo` with `Host: evil.test`, and `GET http://evil.test/echo` with
    `Host: allowed.test`, through the explicit proxy or straight on a captured connection. Contract §2.2 says
    production uses an absolute-form target as is. Captured, both are denied (the disagreement never passes).
    Through the explicit proxy mitmproxy turns the target into origin-form before the addons see it, so the
    Host header decides and routes: the first is denied, the second goes to allowed.test's server, the one
    the decision named. evil.test's server hears nothing in any case."""
    request = b"GET http://allowed.test/echo HTTP/1.1\r\nHost: evil.test\r\n\r\n"
    assert await raw(dev, "abs-1", "allowed.test:80", request) == DENIED
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []
    reverse = await raw(
        dev, "abs-1", "evil.test:80", b"GET http://evil.test/echo HTTP/1.1\r\nHost: allowed.test\r\n\r\n"
    )
    if dev.capture == "explicit":
        assert body(reverse)["path"] == "/echo"
        assert host_seen(upstreams) == ["allowed.test"]
    else:
        assert reverse == DENIED
        assert upstreams.allowed.requests == []
    assert upstreams.evil.requests == []


@pytest.mark.parametrize("hosts", [("allowed.test", "evil.test"), ("evil.test", "allowed.test")])
async def test_duplicate_host_headers(dev: DevServer, upstreams: Upstreams, hosts: tuple[str, str]) -> None:
    """Two Host headers, in either order: the handler URL would be built from both joined
    (`allowed.test, evil.test`), which is no valid URL, so the request is answered 400 and goes nowhere."""
    first, second = hosts
    request = f"GET /echo HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\n\r\n".encode()
    answer = await raw(dev, "dup-1", "allowed.test:80", plain(dev, "allowed.test", request))
    assert answer.startswith("HTTP/1.1 400 Bad Request\r\n"), answer
    assert answer.endswith("the request's Host header does not make a valid URL; the request was not forwarded.\n")
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []


async def test_userinfo_in_the_host_is_not_the_host(dev: DevServer, upstreams: Upstreams) -> None:
    """`Host: allowed.test:443@evil.test`: everything before `@` is userinfo in the handler URL, whose host is
    evil.test: denied."""
    request = b"GET /echo HTTP/1.1\r\nHost: allowed.test:443@evil.test\r\n\r\n"
    assert await raw(dev, "userinfo-1", "allowed.test:80", plain(dev, "allowed.test", request)) == DENIED
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []


@pytest.mark.parametrize("spelling", ["EVIL.TEST", "evil.test.", "Evil.Test..", "EVIL.TEST."])
async def test_case_and_trailing_dots_do_not_escape_denied_hosts(
    dev: DevServer, upstreams: Upstreams, spelling: str
) -> None:
    """The URL parser lower-cases the host and normalizeHostname strips every trailing dot (contract §1.6), so
    each spelling is evil.test, denied over HTTP and inside TLS whose SNI is spelled the same way."""
    request = f"GET /echo HTTP/1.1\r\nHost: {spelling}\r\n\r\n".encode()
    assert await raw(dev, "case-1", "evil.test:80", plain(dev, "evil.test", request)) == DENIED
    assert await raw(dev, "case-1", "evil.test:443", request, spelling.rstrip(".") + ".") == DENIED
    assert upstreams.allowed.requests == [] and upstreams.evil.requests == []
