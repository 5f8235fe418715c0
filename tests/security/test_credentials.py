"""Credentials never reach the sandbox, even when an upstream reflects them (threat model §5.11; issue 6).

``Reflecting`` (fixtures/handlers/security) injects ``Authorization: Bearer ${env.MIRROR_TOKEN}`` (.dev.vars) and
returns what ``mirror.test`` answered. ``mirror.test`` reflects the request back every way a real upstream does
(httpbin's /headers, an echo in a response header, gzip and br bodies, a chunked body with the secret split
across chunks, base64, a large body with a Content-Length, TRACE). Cloudflare would hand each of these to the
sandbox unchanged; the emulator masks the secret (same length, so framing stays true) and warns on its
terminal and in the audit record. Each request is made by curl inside a sandbox, in both capture modes, all in
one sandbox run per mode (a run costs a process start); the tests then read their part of it.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import brotli  # type: ignore[import-untyped]
import pytest
from aiohttp import web

from emulator import Emulator
from emulator.reflection import mask
from tests.e2e.conftest import DevServer
from tests.security.conftest import SECURITY, Upstreams
from tests.support.upstream import LocalInternet, RunningServer, start_server

pytestmark = pytest.mark.e2e

SECRET = "sk_mirror/7c1e9a2f+d4b3-never-in-the-sandbox"  # fixtures/handlers/security/.dev.vars: MIRROR_TOKEN
MASKED = f"Bearer {mask(len(SECRET)).decode()}"
HANDLER = 'outboundByHost["mirror.test"]'
PADDING_BYTES = 300_000  # on each side of the reflection in /large: the body streams with a Content-Length

# What the sandbox asks mirror.test for: method, URL.
REQUESTS = {
    "json body": ("GET", "https://mirror.test/headers"),
    "json body, plain http": ("GET", "http://mirror.test/headers"),
    "json body, read whole": ("GET", "https://mirror.test/whole/headers"),
    "response header": ("GET", "https://mirror.test/header"),
    "gzip": ("GET", "https://mirror.test/gzip"),
    "gzip, streamed": ("GET", "https://mirror.test/gzip?large=1"),
    "br": ("GET", "https://mirror.test/br"),
    "split across chunks": ("GET", "https://mirror.test/split"),
    "base64": ("GET", "https://mirror.test/base64"),
    "large": ("GET", "https://mirror.test/large"),
    "trace": ("TRACE", "https://mirror.test/trace"),
}


def mirror_app(seen: list[str]) -> web.Application:
    """An upstream that reflects each request's headers back; ``seen`` gets the Authorization it received."""

    def reflected(request: web.Request) -> bytes:
        seen.append(request.headers.get("Authorization", ""))
        headers = {name.title(): value for name, value in request.headers.items()}  # as httpbin spells them
        return json.dumps({"method": request.method, "headers": headers}).encode()

    async def headers(request: web.Request) -> web.Response:
        return web.Response(body=reflected(request), content_type="application/json")

    async def header(request: web.Request) -> web.Response:
        reflected(request)
        echo = request.headers.get("Authorization", "")
        return web.Response(text="reflected in a header\n", headers={"X-Echo-Authorization": echo})

    async def gzipped(request: web.Request) -> web.Response:
        body = reflected(request)
        if "large" in request.query:  # past what a handler's fetch() gets whole: it streams through the handler
            noise = base64.b64encode(random.randbytes(PADDING_BYTES)).decode()
            body = json.dumps({**json.loads(body), "noise": noise}).encode()
        compressed = gzip.compress(body)
        return web.Response(body=compressed, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    async def brotlied(request: web.Request) -> web.Response:
        body = brotli.compress(reflected(request))
        return web.Response(body=body, headers={"Content-Encoding": "br", "Content-Type": "application/json"})

    async def compress(request: web.Request) -> web.Response:
        # An encoding no client uses any more: the emulator cannot decode it to check it.
        return web.Response(body=reflected(request), headers={"Content-Encoding": "compress"})

    async def split(request: web.Request) -> web.StreamResponse:
        body = reflected(request)
        cut = body.index(SECRET.encode()) + len(SECRET) // 2
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(body[:cut])
        await asyncio.sleep(0.05)  # two reads downstream, not one
        await response.write(body[cut:])
        await response.write_eof()
        return response

    async def encoded(request: web.Request) -> web.Response:
        return web.json_response({"data": base64.b64encode(reflected(request)).decode()})

    async def large(request: web.Request) -> web.StreamResponse:
        body = b"." * PADDING_BYTES + reflected(request) + b"." * PADDING_BYTES
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.content_length = len(body)
        await response.prepare(request)
        for offset in range(0, len(body), 64 * 1024):
            await response.write(body[offset : offset + 64 * 1024])
        await response.write_eof()
        return response

    async def trace(request: web.Request) -> web.Response:
        # RFC 9110 §9.3.8: the request as received, as a message/http body.
        seen.append(request.headers.get("Authorization", ""))
        lines = [f"{request.method} {request.raw_path} HTTP/1.1", *(f"{k}: {v}" for k, v in request.headers.items())]
        return web.Response(body=("\r\n".join(lines) + "\r\n\r\n").encode(), content_type="message/http")

    app = web.Application()
    app.router.add_get("/headers", headers)
    app.router.add_get("/whole/headers", headers)
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/header", header)
    app.router.add_get("/br", brotlied)
    app.router.add_get("/compress", compress)
    app.router.add_get("/split", split)
    app.router.add_get("/base64", encoded)
    app.router.add_get("/large", large)
    app.router.add_route("TRACE", "/trace", trace)
    return app


@pytest.fixture(scope="module")
def seen() -> list[str]:
    return []


@pytest.fixture(scope="module")
async def internet(
    internet: tuple[LocalInternet, Upstreams], seen: list[str]
) -> AsyncIterator[tuple[LocalInternet, Upstreams]]:
    """The security tests' internet, and mirror.test."""
    local = internet[0]
    app = mirror_app(seen)
    servers: list[RunningServer] = [
        await start_server(app),
        await start_server(app, local.ca.issue_leaf("mirror.test").server_context()),
    ]
    local.connect_to["mirror.test"] = f"127.0.0.1:{servers[0].port}"
    local.connect_to["mirror.test:443"] = f"127.0.0.1:{servers[1].port}"
    try:
        yield internet
    finally:
        for server in servers:
            await server.close()


# Runs every request of REQUESTS with curl, printing a marker line before each answer and its exit code after.
SCRIPT = r"""
while read -r name method url; do
  echo "=== $name"
  curl -sS -m 10 -i --compressed -X "$method" "$url"
  echo "=== exit $?"
done"""


@pytest.fixture(scope="module")
async def answers(dev: DevServer) -> dict[str, tuple[int, str]]:
    """Each request's exit code and what curl printed (head and decoded body), from one sandbox run."""
    lines = "".join(f"{name.replace(' ', '_')} {method} {url}\n" for name, (method, url) in REQUESTS.items())
    script = f"{SCRIPT} <<'END'\n{lines}END\n"
    result = await dev.run("mirror-1", "sh", "-c", script, cls="Reflecting", timeout=60)
    assert result.code == 0, result
    found: dict[str, tuple[int, str]] = {}
    name = ""
    for part in result.stdout.split("=== ")[1:]:
        head, _, text = part.partition("\n")
        text = text.removeprefix("HTTP/1.1 200 Connection established\r\n\r\n")  # the explicit proxy's CONNECT
        if head.startswith("exit "):
            found[name] = (int(head[5:]), found[name][1])
        else:
            name = head.replace("_", " ")
            found[name] = (-1, text)
    assert set(found) == set(REQUESTS), result
    return found


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_a_reflected_secret_never_reaches_the_sandbox(
    answers: dict[str, tuple[int, str]], name: str, seen: list[str]
) -> None:
    code, text = answers[name]
    assert code == 0, text  # a valid response: framing and encoding survived the masking
    assert f"Bearer {SECRET}" in seen  # the upstream did get the secret, and reflected it
    assert SECRET not in text
    assert base64.b64encode(f"Bearer {SECRET}".encode()).decode()[8:-8] not in text
    head, _, body = text.partition("\r\n\r\n")
    assert head.split(" ", 2)[1] == "200", text
    if name == "response header":
        assert f"\r\nx-echo-authorization: {MASKED}".lower() in head.lower()
    elif name == "base64":
        data = base64.b64decode(json.loads(body)["data"].replace("[redacted", "").replace("*", "").replace("]", ""))
        assert SECRET.encode() not in data
    elif name == "trace":
        assert f"\r\nauthorization: {MASKED}\r\n".lower() in body.lower()
    elif name == "large":
        assert len(body) == 2 * PADDING_BYTES + len(body.strip(".")) and MASKED in body
    else:
        assert json.loads(body)["headers"]["Authorization"] == MASKED


async def test_the_user_is_told_production_would_deliver_the_secret(
    dev: DevServer, answers: dict[str, tuple[int, str]]
) -> None:
    terminal = dev.log.read_text()
    assert SECRET not in terminal
    warning = (
        f"secret env.MIRROR_TOKEN was in the body of the response {HANDLER} fetched from https://mirror.test/headers; "
        "outbound masked it, but Cloudflare delivers the response unchanged, so in production the sandbox reads "
        "this secret."
    )
    assert warning in terminal
    header = f"was in header x-echo-authorization of the response {HANDLER} fetched from https://mirror.test/header;"
    assert header in terminal
    # A Response the handler built (from the bytes it read) names no upstream URL.
    assert f"secret env.MIRROR_TOKEN was in the body of the Response {HANDLER} returned;" in terminal
    records = [json.loads(line) for line in (dev.state / "audit.jsonl").read_text().splitlines()]
    mirrored = [record for record in records if record["url"].startswith(("https://mirror.test", "http://mirror.test"))]
    assert len(mirrored) == len(REQUESTS)
    assert all(record["status"] == 200 and len(record["warnings"]) == 1 for record in mirrored), mirrored
    assert all(SECRET not in json.dumps(record) for record in records)


async def test_the_python_api_masks_a_reflected_secret_too(
    internet: tuple[LocalInternet, Upstreams], tmp_path: Path
) -> None:
    local = internet[0]
    async with Emulator.load(
        SECURITY, in_memory=True, workers=1, connect_to=local.connect_to, upstream_ca=local.ca_file
    ) as emu:
        sandbox = emu.sandbox("api-1", cls="Reflecting")
        streamed = await sandbox.fetch("https://mirror.test/gzip?large=1")
        whole = await sandbox.fetch("https://mirror.test/whole/headers")
        undecodable = await sandbox.fetch("https://mirror.test/compress")
        records = emu.audit.records("api-1")
    # Past 64 KiB the upstream's body streams through the handler: decoded, masked, encoded again, unsized.
    assert streamed.header("content-encoding") == "gzip" and streamed.header("content-length") is None
    assert json.loads(gzip.decompress(streamed.body))["headers"]["Authorization"] == MASKED
    assert json.loads(whole.body)["headers"]["Authorization"] == MASKED
    # Cloudflare is silent on what cannot be checked: it fails closed, and says why.
    assert (undecodable.status, undecodable.text()) == (
        502,
        f"outbound: the response of the outbound handler {HANDLER} of Reflecting was not delivered: "
        "Content-Encoding 'compress' is not one of gzip, deflate, br, zstd, so outbound cannot check it for "
        "secrets. Return the body decoded, or encoded with gzip, deflate, br or zstd.\n",
    )
    assert (
        records[2].error == "response not delivered: Content-Encoding 'compress' is not one of gzip, deflate, br, zstd"
    )
    assert [len(record.warnings) for record in records] == [1, 1, 0]
    assert (
        records[0]
        .warnings[0]
        .startswith(
            f"secret env.MIRROR_TOKEN was in the body of the response {HANDLER} fetched from "
            "https://mirror.test/gzip?large=1;"
        )
    )
