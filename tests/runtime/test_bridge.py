"""The bridge between the emulator and a JS worker: requests in, streamed responses out, console tagged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.runtime.pool import (
    BodyStreamError,
    ConsoleEntry,
    EnginePool,
    HandlerCall,
    HandlerRequest,
)
from tests.support.engine import started_pool

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "fixtures" / "handlers" / "bodies"
CONSOLE: list[ConsoleEntry] = []


def call(name: str) -> HandlerCall:
    return HandlerCall("Bodies", "handler", name, "cd" * 32, runtime=True)


def get(url: str, body: bytes | None = None, method: str = "GET") -> HandlerRequest:
    return HandlerRequest(method, url, (("host", "bodies.test"), ("x-test", "1")), body)


@pytest.fixture(scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EnginePool]:
    env = {"GREETING": "hello", "API_TOKEN": "s3cret"}
    async with started_pool(
        PROJECT / "index.ts", tmp_path_factory.mktemp("bridge"), env=env, size=1, on_console=CONSOLE.append
    ) as started:
        yield started


async def test_request_and_env_reach_the_handler(pool: EnginePool) -> None:
    response = await pool.run(call("echo"), get("http://bodies.test/p?q=1", b"payload", "POST"), tag="t1")
    seen = json.loads(await response.body.read())
    assert seen == {
        "method": "POST",
        "url": "http://bodies.test/p?q=1",
        "headers": [["host", "bodies.test"], ["x-test", "1"]],
        "body": "payload",
        "greeting": "hello",
        "secret": "string",
    }


async def test_console_output_is_tagged_with_its_request_even_from_a_timer(pool: EnginePool) -> None:
    CONSOLE.clear()
    first = pool.run(call("echo"), get("http://bodies.test/a"), tag="first")
    second = pool.run(call("echo"), get("http://bodies.test/b"), tag="second")
    for response in await asyncio.gather(first, second):
        await response.body.read()
    await asyncio.sleep(0.1)
    lines = sorted((e.tag, e.level, e.message) for e in CONSOLE if e.tag in ("first", "second"))
    assert lines == [
        ("first", "log", "echo GET /a"),
        ("first", "warn", f"later {'cd' * 32}"),
        ("second", "log", "echo GET /b"),
        ("second", "warn", f"later {'cd' * 32}"),
    ]


async def test_a_fixed_length_stream_is_sent_with_its_content_length(pool: EnginePool) -> None:
    response = await pool.run(call("fixedLength"), get("http://bodies.test/"))
    assert ("content-length", "11") in response.headers
    assert await response.body.read() == b"hello world"


async def test_a_large_body_streams_under_flow_control(pool: EnginePool) -> None:
    response = await pool.run(call("generated"), get("http://bodies.test/?mib=64"))
    chunks = 0
    total = 0
    async for chunk in response.body:
        chunks += 1
        total += len(chunk)
        if chunks == 1:
            # The worker stops after the window (1 MiB) until this consumer acknowledges what it read.
            await asyncio.sleep(0.05)
            exchange = next(iter(pool.workers[0].exchanges.values()))
            assert exchange.chunks.qsize() <= 2
    assert total == 64 * 2**20
    assert chunks >= 64


async def test_a_body_that_breaks_mid_stream_reports_it(pool: EnginePool) -> None:
    response = await pool.run(call("failsMidBody"), get("http://bodies.test/"))
    received = b""
    with pytest.raises(BodyStreamError, match="stream broke"):
        async for chunk in response.body:
            received += chunk
    assert received == b"partial"


async def test_the_next_request_after_a_broken_stream_works(pool: EnginePool) -> None:
    response = await pool.run(call("fixedLength"), get("http://bodies.test/"))
    assert await response.body.read() == b"hello world"


async def test_known_bodies_carry_their_length_as_workerd_frames_them(pool: EnginePool) -> None:
    response = await pool.run(call("echo"), get("http://bodies.test/"))
    body = await response.body.read()
    assert ("content-length", str(len(body))) in response.headers
    assert [name for name, _ in response.headers].count("content-length") == 1
