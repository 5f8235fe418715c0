"""emulator/runtime/host/fetch.py, the Python half of fetch(), driven with the payloads js/fetch.js sends,
against real servers on 127.0.0.1: redirects as workerd follows them, bodies inline or pulled, cancellation."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest

from emulator.reach import METADATA, OWN_MACHINE, PRIVATE
from emulator.runtime.bridge import pack_meta, unpack_meta
from emulator.runtime.host.fetch import (
    INLINE_BODY_MAX_BYTES,
    INVALID_LOCATION,
    ONE_TIME_BODY,
    TOO_MANY_REDIRECTS,
    FetchHost,
)
from tests.support.upstream import LocalInternet, echoed

_ids = itertools.count(1)


@pytest.fixture(scope="module")
async def internet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalInternet]:
    async with LocalInternet(tmp_path_factory.mktemp("fetch-host")) as local:
        yield local


@pytest.fixture
async def host(internet: LocalInternet) -> AsyncIterator[FetchHost]:
    fetcher = FetchHost(internet.upstream_options())
    yield fetcher
    await fetcher.close()


async def send(
    host: FetchHost,
    url: str,
    method: str = "GET",
    headers: list[list[str]] | None = None,
    body: bytes | None = None,
    *,
    follow: bool = True,
    one_time: bool = False,
    ident: int | None = None,
) -> tuple[dict[str, Any], bytes]:
    meta: dict[str, Any] = {"i": ident or next(_ids), "m": method, "u": url, "h": headers or []}
    if body is not None:
        meta["b"] = 1
    if follow:
        meta["f"] = 1
    if one_time:
        meta["o"] = 1
    reply: tuple[dict[str, Any], bytes] = unpack_meta(await host.fetch(pack_meta(meta, body or b"")))
    return reply


async def test_a_small_body_comes_back_with_the_head(host: FetchHost) -> None:
    head, body = await send(host, "http://upstream.test/echo", headers=[["x-test", "1"]])
    assert (head["s"], head["t"], head["b"]) == (200, "OK", 2)
    assert ["content-type", "application/json; charset=utf-8"] in head["h"]
    assert "u" not in head
    assert echoed(body)["headers"] == [["Host", "upstream.test"], ["x-test", "1"]]


async def test_connection_headers_from_the_handler_are_not_sent(host: FetchHost) -> None:
    headers = [
        ["host", "evil.test"],
        ["connection", "close"],
        ["content-length", "99"],
        ["transfer-encoding", "x"],
        ["x-kept", "yes"],
    ]
    _, body = await send(host, "http://upstream.test/echo", "POST", headers, b"abc")
    assert echoed(body)["headers"] == [["Host", "upstream.test"], ["x-kept", "yes"], ["Content-Length", "3"]]


async def test_a_large_body_is_pulled_chunk_by_chunk_without_buffering(
    host: FetchHost, internet: LocalInternet
) -> None:
    size = 32 * 1024 * 1024
    ident = next(_ids)
    head, rest = await send(host, f"http://upstream.test/bytes/{size}?tag=host-large", ident=ident)
    assert head["b"] == 1 and rest == b""
    first = await host.read(ident)
    assert first is not None
    # Backpressure: when the first chunk is handed over, the server is far from done writing.
    assert internet.recorder.written["host-large"] < size // 2
    total, reads = len(first), 1
    while (chunk := await host.read(ident)) is not None:
        assert chunk
        total, reads = total + len(chunk), reads + 1
    assert total == size
    assert reads > 32


async def test_a_body_over_the_inline_limit_is_pulled(host: FetchHost) -> None:
    ident = next(_ids)
    head, _ = await send(host, f"http://upstream.test/bytes/{INLINE_BODY_MAX_BYTES + 1}", ident=ident)
    assert head["b"] == 1
    chunks = []
    while (chunk := await host.read(ident)) is not None:
        chunks.append(chunk)
    assert sum(map(len, chunks)) == INLINE_BODY_MAX_BYTES + 1
    assert await host.read(ident) == b""  # no open body: answered as a broken one


@pytest.mark.parametrize(
    ("status", "method", "expected_method", "body_kept"),
    [
        (301, "POST", "GET", False),
        (302, "POST", "GET", False),
        (303, "POST", "GET", False),
        (303, "PUT", "GET", False),
        (303, "HEAD", "HEAD", False),
        (307, "POST", "POST", True),
        (308, "POST", "POST", True),
        (301, "PUT", "PUT", True),
        (302, "DELETE", "DELETE", True),
    ],
)
async def test_redirect_method_and_body_rules(
    host: FetchHost, internet: LocalInternet, status: int, method: str, expected_method: str, body_kept: bool
) -> None:
    body = None if method == "HEAD" else b"payload"
    head, _ = await send(host, f"http://upstream.test/redirect/{status}?location=/echo", method, [], body)
    assert head["s"] == 200
    assert head["u"] == "http://upstream.test/echo"
    seen = internet.recorder.requests[-1]
    assert seen["method"] == expected_method
    assert seen["body"] == ("payload" if body_kept else "")


async def test_the_final_url_has_no_fragment(host: FetchHost) -> None:
    # The request's own fragment is not sent and not carried over; the Location's is dropped from `u`.
    head, _ = await send(host, "http://upstream.test/redirect/302?location=/echo#start")
    assert head["u"] == "http://upstream.test/echo"
    head, _ = await send(host, "http://upstream.test/redirect/302?location=/echo%2523x%23frag")
    assert head["u"] == "http://upstream.test/echo%23x"


CREDENTIALS = [
    ["authorization", "Bearer secret"],
    ["cookie", "session=1"],
    ["proxy-authorization", "Basic x"],
    ["x-other", "kept"],
]


async def test_a_cross_origin_redirect_drops_credentials(host: FetchHost) -> None:
    _, body = await send(host, "http://upstream.test/redirect/302?location=http://other.test/echo", headers=CREDENTIALS)
    assert echoed(body)["headers"] == [["Host", "other.test"], ["x-other", "kept"]]


async def test_a_same_origin_redirect_keeps_credentials(host: FetchHost) -> None:
    _, body = await send(host, "http://upstream.test/redirect/307?location=/echo", headers=CREDENTIALS)
    assert echoed(body)["headers"][1:] == [[name, value] for name, value in CREDENTIALS]


async def test_twenty_redirects_are_followed_and_the_twenty_first_fails(host: FetchHost) -> None:
    head, body = await send(host, "http://upstream.test/chain/20")
    assert (head["s"], head["u"], body) == (200, "http://upstream.test/chain/0", b"end of chain")
    head, _ = await send(host, "http://upstream.test/chain/21")
    assert head == {"e": "type", "m": TOO_MANY_REDIRECTS}


async def test_without_follow_the_redirect_is_the_response(host: FetchHost) -> None:
    head, body = await send(host, "http://upstream.test/redirect/301?location=/echo", follow=False)
    assert head["s"] == 301 and ["location", "/echo"] in head["h"] and body == b"redirecting"


async def test_a_redirect_without_location_is_the_response(host: FetchHost) -> None:
    head, _ = await send(host, "http://upstream.test/status/302")
    assert (head["s"], "u" in head) == (302, False)


async def test_a_stream_body_survives_303_but_not_307(host: FetchHost) -> None:
    head, _ = await send(host, "http://upstream.test/redirect/303?location=/echo", "POST", [], b"x", one_time=True)
    assert head["s"] == 200
    head, _ = await send(host, "http://upstream.test/redirect/307?location=/echo", "POST", [], b"x", one_time=True)
    assert head == {"e": "type", "m": ONE_TIME_BODY}


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("http://[bad/", INVALID_LOCATION),
        ("ftp://upstream.test/x", "Fetch API cannot load: ftp://upstream.test/x"),
    ],
)
async def test_a_bad_redirect_target_fails(host: FetchHost, location: str, message: str) -> None:
    head, _ = await send(host, f"http://upstream.test/redirect/302?location={location}")
    assert head == {"e": "type", "m": message}


@pytest.mark.parametrize(
    ("method", "url"), [("HEAD", "http://upstream.test/echo"), ("GET", "http://upstream.test/status/204")]
)
async def test_head_and_null_body_statuses_have_no_body(host: FetchHost, method: str, url: str) -> None:
    head, body = await send(host, url, method)
    assert (head["b"], body) == (0, b"")


@pytest.mark.parametrize(
    ("url", "kind", "detail"),
    [
        ("http://refused.test/", "lost", "could not connect"),
        ("https://untrusted.test/echo", "internal", "certificate verify failed"),
        ("http://upstream.test/truncated", "lost", "connection lost"),
    ],
)
async def test_failures_are_reported_not_raised(host: FetchHost, url: str, kind: str, detail: str) -> None:
    head, _ = await send(host, url)
    assert head["e"] == kind and detail in head["m"]


async def test_a_body_broken_mid_stream_reads_as_an_empty_chunk(host: FetchHost) -> None:
    ident = next(_ids)
    head, _ = await send(host, "http://upstream.test/truncated?promise=1000000&send=200000", ident=ident)
    assert head["b"] == 1
    received = 0
    while chunk := await host.read(ident):
        received += len(chunk)
    assert chunk == b"" and received == 200000


async def test_a_control_character_in_a_value_is_refused(host: FetchHost) -> None:
    head, _ = await send(host, "http://upstream.test/echo", headers=[["x-a", "one\x01two"]])
    assert head == {"e": "type", "m": "Invalid header value."}


async def test_cancel_stops_a_request_in_flight(host: FetchHost) -> None:
    ident = next(_ids)
    pending = asyncio.ensure_future(send(host, "http://upstream.test/slow", ident=ident))
    await asyncio.sleep(0.05)
    host.cancel(ident)
    head, _ = await asyncio.wait_for(pending, 1)
    assert head["e"] == "aborted"


async def test_cancel_closes_a_body_mid_stream(host: FetchHost, internet: LocalInternet) -> None:
    ident = next(_ids)
    head, _ = await send(host, "http://upstream.test/drip?tag=host-cancel", ident=ident)
    assert head["b"] == 1 and await host.read(ident) == b"drip\n"
    host.cancel(ident)
    assert await host.read(ident) == b""  # no open body: answered as a broken one
    for _ in range(100):
        if internet.recorder.gone.get("host-cancel"):
            break
        await asyncio.sleep(0.01)
    assert internet.recorder.gone["host-cancel"] is True


# -- destinations production egress cannot reach (threat model §5.2, §5.8) -------------------------------


def server_port(internet: LocalInternet) -> int:
    return int(internet.connect_to["upstream.test"].rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://127.0.0.1:{port}/record?tag={tag}", f"127.0.0.1 is {OWN_MACHINE}"),
        ("http://2130706433:{port}/record?tag={tag}", f"127.0.0.1 is {OWN_MACHINE}"),  # parsed as 127.0.0.1
        ("http://[::ffff:127.0.0.1]:{port}/record?tag={tag}", f"::ffff:7f00:1 is {OWN_MACHINE}"),
        ("http://0.0.0.0:{port}/record?tag={tag}", f"0.0.0.0 is {OWN_MACHINE}"),
        ("http://localhost:{port}/record?tag={tag}", f"localhost is {OWN_MACHINE}"),
        ("http://169.254.169.254/latest/meta-data/?tag={tag}", f"169.254.169.254 is {METADATA}"),
        ("http://[fd00:ec2::254]/latest/meta-data/?tag={tag}", f"fd00:ec2::254 is {METADATA}"),
        ("http://10.1.2.3/?tag={tag}", f"10.1.2.3 is {PRIVATE}"),
    ],
)
async def test_a_redirect_to_an_address_production_cannot_reach_is_refused(
    host: FetchHost, internet: LocalInternet, dialled: list[str], location: str, reason: str
) -> None:
    tag = f"refused-{next(_ids)}"
    target = location.format(port=server_port(internet), tag=tag)
    start = f"http://upstream.test/redirect/302?location={quote(target, safe='')}"
    head, _ = await send(host, start, headers=CREDENTIALS)
    assert head["e"] == "type"
    assert head["m"].startswith("fetch() refused http")
    assert f" (where a 302 redirect from {start} led): {reason}. " in head["m"]
    assert not [seen for seen in internet.recorder.requests if tag in seen["path"]]
    assert set(dialled) == {"127.0.0.1"}  # the redirecting server only


async def test_the_refusal_says_what_and_why_in_full(host: FetchHost, internet: LocalInternet) -> None:
    url = f"http://127.0.0.1:{server_port(internet)}/record"
    head, _ = await send(host, url)
    assert head == {
        "e": "type",
        "m": f"fetch() refused {url}: 127.0.0.1 is an address of the emulator's own machine. Workers on Cloudflare "
        "cannot reach such addresses either; to reach a local server while developing, give it a host name and "
        "route that name to it with --connect-to.",
    }
    assert not [seen for seen in internet.recorder.requests if seen["path"] == "/record"]


async def test_a_redirect_to_a_name_connect_to_routes_is_followed(host: FetchHost, dialled: list[str]) -> None:
    # other.test is routed to the same local server: the user's choice, so it stays reachable.
    head, _ = await send(host, "http://upstream.test/redirect/302?location=http://other.test/echo")
    assert (head["s"], head["u"]) == (200, "http://other.test/echo")
    assert set(dialled) <= {"127.0.0.1"}
