"""emulator/upstream.py against real servers on 127.0.0.1 (tests/support/upstream.py): one hop, headers as
given, bodies streamed and left compressed, TLS verified, connect_to honoured, failures mapped."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from emulator.reach import OWN_MACHINE, PRIVATE, Unreachable
from emulator.upstream import (
    READ_BUFFER_BYTES,
    AddressRefused,
    CertificateRejected,
    ConnectFailed,
    ConnectionLost,
    InvalidRequest,
    Upstream,
    UpstreamOptions,
    parse_connect_to,
    rerouted,
)
from tests.support.upstream import LocalInternet, echoed


@pytest.fixture(scope="module")
async def internet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalInternet]:
    async with LocalInternet(tmp_path_factory.mktemp("upstream")) as local:
        yield local


@pytest.fixture
async def upstream(internet: LocalInternet) -> AsyncIterator[Upstream]:
    client = Upstream(UpstreamOptions.from_init(internet.upstream_options()))
    yield client
    await client.close()


async def test_connect_to_keeps_the_url_host_for_host_header_sni_and_verification(upstream: Upstream) -> None:
    response = await upstream.request("GET", "https://github.com/echo", [])
    seen = echoed(await response.read())
    response.release()
    assert response.status == 200
    assert seen["headers"] == [["Host", "github.com"]]


async def test_only_the_given_headers_are_sent_in_order_with_duplicates(upstream: Upstream) -> None:
    headers = [("x-a", "1"), ("X-B", "two words"), ("x-a", "3")]
    response = await upstream.request("GET", "http://upstream.test/echo?q=1", headers)
    seen = echoed(await response.read())
    assert seen["path"] == "/echo?q=1"
    assert seen["headers"] == [["Host", "upstream.test"], ["x-a", "1"], ["X-B", "two words"], ["x-a", "3"]]


async def test_a_bytes_body_gets_content_length_and_no_content_type(upstream: Upstream) -> None:
    response = await upstream.request("POST", "http://upstream.test/echo", [], b"hello")
    seen = echoed(await response.read())
    assert seen["headers"] == [["Host", "upstream.test"], ["Content-Length", "5"]]
    assert seen["body"] == "hello"


async def test_a_streamed_body_is_sent_chunked(upstream: Upstream) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one ", b"two ", b"three"):
            yield part

    response = await upstream.request("PUT", "http://upstream.test/echo", [], parts())
    seen = echoed(await response.read())
    assert ["Transfer-Encoding", "chunked"] in seen["headers"]
    assert seen["method"] == "PUT" and seen["body"] == "one two three"


async def test_response_headers_keep_their_order_and_repeats(upstream: Upstream) -> None:
    response = await upstream.request("GET", "http://upstream.test/cookies", [])
    await response.read()
    names = [name for name, _ in response.headers]
    assert [v for n, v in response.headers if n == "set-cookie"] == ["a=1", "b=2; Path=/"]
    assert names.index("set-cookie") < names.index("x-custom")
    assert response.header("x-custom") == "custom value"
    assert response.reason == "OK"


async def test_bodies_are_not_decompressed(upstream: Upstream) -> None:
    response = await upstream.request("GET", "http://upstream.test/gzip", [])
    body = await response.read()
    assert response.header("content-encoding") == "gzip"
    assert gzip.decompress(body) == b"hello gzip"


async def test_a_large_body_arrives_in_bounded_chunks(upstream: Upstream, internet: LocalInternet) -> None:
    size = 8 * 1024 * 1024
    response = await upstream.request("GET", "http://upstream.test/bytes/8388608?tag=upstream-large", [])
    assert response.content_length == size
    sizes = [len(chunk) async for chunk in response.body]
    response.release()
    assert sum(sizes) == size
    assert len(sizes) > 8
    assert max(sizes) <= 4 * READ_BUFFER_BYTES


async def test_redirects_are_returned_not_followed(upstream: Upstream) -> None:
    response = await upstream.request("GET", "http://upstream.test/redirect/302?location=/echo", [])
    await response.read()
    assert (response.status, response.header("location")) == (302, "/echo")


async def test_a_certificate_from_an_unknown_ca_is_rejected(upstream: Upstream) -> None:
    with pytest.raises(CertificateRejected, match="certificate verify failed"):
        await upstream.request("GET", "https://untrusted.test/echo", [])


async def test_without_ca_file_the_test_ca_is_not_trusted(internet: LocalInternet) -> None:
    client = Upstream(UpstreamOptions(connect_to=internet.connect_to))
    try:
        with pytest.raises(CertificateRejected):
            await client.request("GET", "https://github.com/echo", [])
    finally:
        await client.close()


async def test_a_refused_connection_is_connect_failed(upstream: Upstream) -> None:
    with pytest.raises(ConnectFailed, match="http://refused.test/"):
        await upstream.request("GET", "http://refused.test/", [])


async def test_a_body_cut_short_is_connection_lost(upstream: Upstream) -> None:
    response = await upstream.request("GET", "http://upstream.test/truncated", [])
    with pytest.raises(ConnectionLost):
        await response.read()


async def test_close_abandons_a_body_and_its_connection(upstream: Upstream, internet: LocalInternet) -> None:
    response = await upstream.request("GET", "http://upstream.test/drip?tag=upstream-close", [])
    assert await response.read_chunk() == b"drip\n"
    response.close()
    for _ in range(100):
        if internet.recorder.gone.get("upstream-close"):
            break
        await asyncio.sleep(0.01)
    assert internet.recorder.gone["upstream-close"] is True
    assert await response.read_chunk() is None


def test_connect_to_accepts_host_port_host_and_ipv6() -> None:
    routes = parse_connect_to({"GitHub.com:443": "127.0.0.1:8443", "any.test": "[::1]:80", "[::2]": "localhost"})
    assert routes == {
        ("github.com", 443): ("127.0.0.1", 8443),
        ("any.test", None): ("::1", 80),
        ("::2", None): ("localhost", None),
    }


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("github.com", 443, ("127.0.0.1", 1)),  # host:port beats every other key
        ("github.com", 80, ("127.0.0.1", 2)),  # then the host on any port
        ("other.test", 443, ("127.0.0.1", 3)),  # then *:port
        ("other.test", 8080, ("127.0.0.1", 8080)),  # then *, keeping the port when the route names none
        ("Other.Test.", 80, ("127.0.0.1", 80)),  # names compare as DNS does
    ],
)
def test_the_most_specific_connect_to_key_wins(host: str, port: int, expected: tuple[str, int]) -> None:
    routes = parse_connect_to(
        {"github.com:443": "127.0.0.1:1", "github.com": "127.0.0.1:2", "*:443": "127.0.0.1:3", "*": "127.0.0.1"}
    )
    assert rerouted(routes, host, port) == expected


async def test_a_wildcard_route_sends_every_host_to_one_server(internet: LocalInternet) -> None:
    client = Upstream(UpstreamOptions(connect_to={"*": internet.connect_to["upstream.test"]}))
    try:
        response = await client.request("GET", "http://made-up.example/echo", [("x-test", "1")])
        seen = echoed(await response.read())
        response.release()
    finally:
        await client.close()
    assert seen["headers"] == [["Host", "made-up.example"], ["x-test", "1"]]


async def test_an_ip_literal_a_route_covers_is_refused_not_sent_past_the_route(internet: LocalInternet) -> None:
    client = Upstream(UpstreamOptions(connect_to={"*": internet.connect_to["upstream.test"]}))
    try:
        with pytest.raises(InvalidRequest, match=r"connect_to reroutes 203\.0\.113\.7, but a URL naming an IP"):
            await client.request("GET", "http://203.0.113.7/echo", [])
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"connect_to": {"a.test:99999": "127.0.0.1:1"}},
            'connect_to key "a.test:99999": "a.test:99999": the port must be a number from 1 to 65535',
        ),
        ({"connect_to": {"a.test": ":80"}}, 'connect_to["a.test"] = ":80": the host is empty'),
        ({"connect_to": {"[::1": "127.0.0.1:80"}}, 'needs its closing "]"'),
        ({"connect_to": ["a.test"]}, '"connect_to" must map'),
        ({"ca_file": 3}, '"ca_file" must be a path'),
        ({"proxy": "x"}, "unknown key"),
    ],
)
def test_bad_options_name_the_key_and_value(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        UpstreamOptions.from_init(raw)


def test_a_missing_ca_file_is_reported_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ValueError, match=f"{missing} does not exist"):
        Upstream(UpstreamOptions(ca_file=missing))


# -- destinations production egress cannot reach (reach.py; threat model §5.2, §5.3) ---------------------


class StubDNS(AbstractResolver):
    """DNS as a test needs it: fixed answers per name, and every name asked for."""

    def __init__(self, answers: dict[str, list[tuple[str, int]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            {
                "hostname": host,
                "host": address,
                "port": answer_port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for address, answer_port in self.answers[host]
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
def dns(internet: LocalInternet) -> StubDNS:
    port = int(internet.connect_to["upstream.test"].rsplit(":", 1)[1])
    return StubDNS(
        {
            "inside.test": [("10.0.0.1", 80)],
            "loopback.test": [("127.0.0.1", port)],  # the live server: a broken check would reach it
            "mixed.test": [("1.1.1.1", 80), ("127.0.0.1", port)],
        }
    )


@pytest.fixture
async def guarded(internet: LocalInternet, dns: StubDNS) -> AsyncIterator[Upstream]:
    client = Upstream(UpstreamOptions.from_init(internet.upstream_options()), unreachable=Unreachable(), dns=dns)
    yield client
    await client.close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://inside.test/echo", f"inside.test resolves to 10.0.0.1, {PRIVATE}"),
        ("http://loopback.test/echo", f"loopback.test resolves to 127.0.0.1, {OWN_MACHINE}"),
        # One refused answer refuses the name: the client must not get to pick the public one.
        ("http://mixed.test/echo", f"mixed.test resolves to 127.0.0.1, {OWN_MACHINE}"),
        ("http://localhost/echo", f"localhost is {OWN_MACHINE}"),  # by name, never looked up
        ("http://127.0.0.1/echo", f"127.0.0.1 is {OWN_MACHINE}"),  # literals are dialled without a lookup
        ("http://[::ffff:a00:1]/echo", f"::ffff:a00:1 is {PRIVATE}"),
        ("http://1.2.3/echo", "1.2.3 is not an IP address that can be checked"),
    ],
)
async def test_an_unreachable_destination_is_refused_before_dialling(
    guarded: Upstream, internet: LocalInternet, dialled: list[str], url: str, reason: str
) -> None:
    before = len(internet.recorder.requests)
    with pytest.raises(AddressRefused) as refused:
        await guarded.request("GET", url, [])
    assert (str(refused.value), refused.value.reason) == (f"{url}: refused: {reason}", reason)
    assert dialled == [] and len(internet.recorder.requests) == before


async def test_names_connect_to_routes_are_not_checked_or_looked_up(
    guarded: Upstream, dns: StubDNS, dialled: list[str]
) -> None:
    response = await guarded.request("GET", "http://upstream.test/echo", [])
    assert echoed(await response.read())["path"] == "/echo"
    response.release()
    assert dns.asked == [] and dialled == ["127.0.0.1"]


async def test_the_address_dialled_is_the_address_resolved(internet: LocalInternet, dns: StubDNS) -> None:
    # Without Unreachable (the emulator's own requests), the resolver's answer for a name the system's DNS does
    # not know is what aiohttp dials: there is no second lookup that a rebinding name could answer differently.
    client = Upstream(UpstreamOptions.from_init(internet.upstream_options()), dns=dns)
    try:
        response = await client.request("GET", "http://loopback.test/echo", [])
        assert echoed(await response.read())["headers"][0] == ["Host", "loopback.test"]
        response.release()
    finally:
        await client.close()
    assert dns.asked == ["loopback.test"]
