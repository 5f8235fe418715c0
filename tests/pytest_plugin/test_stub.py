"""emulator/pytest_plugin/stub.py through the emulator's own HTTP client: every host on one port, HTTP and
HTTPS told apart by the first byte, leaves per SNI, requests recorded, answers as programmed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from emulator.pytest_plugin.stub import StubResponse, UpstreamRequest, UpstreamStub
from emulator.upstream import CertificateRejected, Upstream, UpstreamOptions


@pytest.fixture(scope="module")
async def stub() -> AsyncIterator[UpstreamStub]:
    server = UpstreamStub()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def client(stub: UpstreamStub) -> AsyncIterator[Upstream]:
    stub.reset()
    upstream = Upstream(UpstreamOptions(connect_to=stub.connect_to, ca_file=stub.ca_file))
    yield upstream
    await upstream.close()


async def fetch(
    client: Upstream,
    url: str,
    method: str = "GET",
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    response = await client.request(method, url, headers or [], body)
    data = await response.read()
    response.release()
    return response.status, dict(response.headers), data


@pytest.mark.parametrize(
    "url",
    ["http://api.github.com/user", "https://api.github.com/user", "https://a.test:8443/x", "http://b.test:8080/y"],
)
async def test_every_host_and_port_reaches_the_stub_with_tls_when_the_url_says_so(
    stub: UpstreamStub, client: Upstream, url: str
) -> None:
    status, _, body = await fetch(client, url)

    assert status == 200
    assert json.loads(body) == {"upstream": "outbound stub", "method": "GET", "url": url}
    assert (stub.last.url, stub.last.scheme) == (url, url.split(":")[0])


async def test_a_request_is_recorded_whole(stub: UpstreamStub, client: Upstream) -> None:
    await fetch(
        client,
        "https://API.github.com/repos?page=2",
        "POST",
        headers=[("Authorization", "Bearer t"), ("x-a", "1"), ("x-a", "2")],
        body=b'{"a": 1}',
    )

    seen = stub.last
    assert (seen.method, seen.scheme, seen.host, seen.port, seen.path, seen.query) == (
        "POST",
        "https",
        "api.github.com",
        443,
        "/repos",
        "page=2",
    )
    assert seen.headers["authorization"] == "Bearer t"
    assert seen.headers.getall("X-A") == ["1", "2"]
    assert seen.json() == {"a": 1}


async def test_a_body_larger_than_aiohttps_default_is_recorded(stub: UpstreamStub, client: Upstream) -> None:
    body = b"x" * (3 * 1024 * 1024)  # aiohttp answers 413 past 1 MiB unless told otherwise

    assert (await fetch(client, "https://uploads.test/", "PUT", body=body))[0] == 200
    assert stub.last.body == body


async def test_the_echo_leaves_out_headers_query_and_body(client: Upstream) -> None:
    _, _, body = await fetch(
        client, "http://api.test/p?key=hunter2", "PUT", headers=[("authorization", "hunter2")], body=b"hunter2"
    )

    assert b"hunter2" not in body
    assert json.loads(body) == {"upstream": "outbound stub", "method": "PUT", "url": "http://api.test/p"}


async def test_the_newest_matching_rule_answers(stub: UpstreamStub, client: Upstream) -> None:
    stub.respond("*.github.com", status=503, body="down")
    stub.respond("api.github.com", "/user", json={"login": "octocat"}, headers={"x-rate": "5"})
    stub.respond("api.github.com", "/user", method="POST", status=201)

    status, headers, body = await fetch(client, "https://api.github.com/user")
    assert (status, headers["content-type"], headers["x-rate"], body) == (
        200,
        "application/json",
        "5",
        b'{"login": "octocat"}',
    )
    assert (await fetch(client, "https://api.github.com/user", "POST"))[0] == 201
    assert (await fetch(client, "https://raw.github.com/x"))[:3:2] == (503, b"down")
    assert (await fetch(client, "https://example.com/user"))[0] == 200  # no rule: the echo


async def test_a_route_answers_from_the_request(stub: UpstreamStub, client: Upstream) -> None:
    @stub.route("api.github.com", "/user")
    async def user(request: UpstreamRequest) -> StubResponse:
        if request.headers.get("authorization") != "Bearer t":
            return StubResponse(401, json={"message": "Requires authentication"})
        return StubResponse(json={"login": "octocat"})

    assert (await fetch(client, "https://api.github.com/user"))[0] == 401
    assert (await fetch(client, "https://api.github.com/user", headers=[("authorization", "Bearer t")]))[2] == (
        b'{"login": "octocat"}'
    )


async def test_a_route_that_fails_answers_500_and_logs_why(
    stub: UpstreamStub, client: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    @stub.route("api.github.com")
    def broken(request: UpstreamRequest) -> StubResponse:
        return {"login": "octocat"}  # type: ignore[return-value]  # the mistake under test

    status, _, body = await fetch(client, "https://api.github.com/user")

    message = (
        "upstream stub: the route for api.github.com * failed on https://api.github.com/user: "
        "TypeError('it returned dict, not a StubResponse')"
    )
    assert (status, body.decode()) == (500, message)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [("outbound", "ERROR", message)]


async def test_received_filters_and_last_explains_an_empty_stub(stub: UpstreamStub, client: Upstream) -> None:
    with pytest.raises(AssertionError, match="the upstream stub received no request"):
        stub.last  # noqa: B018 - the property raises
    await fetch(client, "http://a.test/one")
    await fetch(client, "http://b.test/two", "POST")

    assert [r.path for r in stub.received(host="a.test")] == ["/one"]
    assert [r.path for r in stub.received(method="post")] == ["/two"]
    assert [r.path for r in stub.received(path="/t*")] == ["/two"]


async def test_reset_forgets_requests_and_rules(stub: UpstreamStub, client: Upstream) -> None:
    stub.respond(status=500)
    await fetch(client, "http://a.test/")

    stub.reset()

    assert stub.requests == []
    assert (await fetch(client, "http://a.test/"))[0] == 200


async def test_its_leaves_chain_to_its_own_ca_only(stub: UpstreamStub) -> None:
    stranger = Upstream(UpstreamOptions(connect_to=stub.connect_to))  # the system's trust store, not the stub's CA
    try:
        with pytest.raises(CertificateRejected):
            await stranger.request("GET", "https://api.github.com/", [])
    finally:
        await stranger.close()
