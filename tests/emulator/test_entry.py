"""emulator/entry.py: the Worker's default fetch on a local port, as `wrangler dev` serves it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from emulator import ConsoleEntry, Emulator, UserError
from emulator.entry import WorkerAddress, WorkerEntry

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "fixtures" / "handlers" / "worker-entry"
NO_FETCH = ROOT / "fixtures" / "handlers" / "capture"  # classes only, no default export


@pytest.fixture(scope="module")
async def console() -> list[ConsoleEntry]:
    return []


@pytest.fixture(scope="module")
async def worker(console: list[ConsoleEntry]) -> AsyncIterator[str]:
    async with (
        Emulator.load(PROJECT, in_memory=True, workers=1, on_console=console.append) as emulator,
        WorkerEntry(emulator, WorkerAddress("localhost", 0)) as entry,
    ):
        yield entry.url


async def fetch(url: str, method: str = "GET", **options: object) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **options) as response:  # type: ignore[arg-type]
        return response.status, await response.text(), dict(response.headers)


async def test_localhost_is_served_on_the_ipv4_loopback(worker: str) -> None:
    assert worker.startswith("http://127.0.0.1:")


async def test_the_request_reaches_fetch_with_env(worker: str) -> None:
    status, body, _ = await fetch(f"{worker}/echo?q=1", "POST", data=b"payload", headers={"x-test": "yes"})
    assert status == 200
    assert json.loads(body) == {
        "method": "POST",
        "url": f"{worker}/echo?q=1",
        "body": "payload",
        "header": "yes",
        "greeting": "hello",
    }


async def test_a_streamed_body_arrives_as_it_is_produced(worker: str) -> None:
    arrivals: list[tuple[float, bytes]] = []
    async with aiohttp.ClientSession() as session, session.get(f"{worker}/stream") as response:
        async for chunk in response.content.iter_any():
            arrivals.append((time.monotonic(), chunk))
    assert b"".join(chunk for _, chunk in arrivals) == b"part 0\npart 1\npart 2\n"
    assert len(arrivals) >= 2  # the parts come 20 ms apart: not one buffered body
    assert arrivals[-1][0] - arrivals[0][0] >= 0.02


async def test_a_client_that_goes_away_cancels_the_workers_stream(worker: str, console: list[ConsoleEntry]) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{worker}/endless") as response:
        assert await response.content.readline() == b"tick\n"
    for _ in range(200):
        if any(entry.message == "endless stream cancelled" for entry in console):
            break
        await asyncio.sleep(0.01)
    assert [entry.message for entry in console if "cancelled" in entry.message] == ["endless stream cancelled"]


async def test_wait_until_runs_after_the_response(worker: str, console: list[ConsoleEntry]) -> None:
    status, body, _ = await fetch(f"{worker}/wait-until")
    assert (status, body) == (200, "sent")
    for _ in range(100):
        if any(entry.message == "after the response" for entry in console):
            break
        await asyncio.sleep(0.01)
    assert [entry.message for entry in console if entry.message == "after the response"] == ["after the response"]


async def test_a_throwing_fetch_answers_500_with_the_error_and_its_ts_line(
    worker: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="outbound"):
        status, body, headers = await fetch(f"{worker}/throw")
    line = next(number for number, text in enumerate(_source(), 1) if 'throw new Error("the Worker broke")' in text)
    assert status == 500
    assert headers["Content-Type"] == "text/plain;charset=UTF-8"
    assert body.startswith(f"Error: the Worker broke\n    at fetch (src/index.ts:{line}:15)\n")
    assert (
        f"the Worker's fetch (src/index.ts) failed: Error: the Worker broke\n    at fetch (src/index.ts:{line}:15)"
        in (caplog.text)
    )


async def test_a_fetch_that_returns_no_response_answers_500(worker: str) -> None:
    status, body, _ = await fetch(f"{worker}/not-a-response")
    assert status == 500
    assert body == (
        "TypeError: Incorrect type for Promise: the Promise did not resolve to 'Response'.\n"
        "return a Response from the default export's fetch()\n"
    )


async def test_a_module_without_a_default_fetch_answers_wranglers_error() -> None:
    async with (
        Emulator.load(NO_FETCH, in_memory=True, workers=1) as emulator,
        WorkerEntry(emulator, WorkerAddress("127.0.0.1", 0)) as entry,
    ):
        assert not entry.has_fetch
        status, body, _ = await fetch(f"{entry.url}/")
    assert (status, body.splitlines()[0]) == (500, "Error: Handler does not export a fetch() function.")


async def test_a_worker_entrypoint_class_is_served(tmp_path: Path) -> None:
    (tmp_path / "index.ts").write_text(
        'import { WorkerEntrypoint } from "cloudflare:workers";\n'
        "export default class extends WorkerEntrypoint {\n"
        "  fetch(request: Request) {\n"
        "    return new Response(`${request.method} ${typeof this.ctx.waitUntil} ${this.env.NAME}`);\n"
        "  }\n"
        "}\n"
    )
    async with (
        Emulator.load(tmp_path / "index.ts", in_memory=True, workers=1, vars={"NAME": "entrypoint"}) as emulator,
        WorkerEntry(emulator, WorkerAddress("127.0.0.1", 0)) as entry,
    ):
        assert entry.has_fetch
        status, body, _ = await fetch(f"{entry.url}/")
    assert (status, body) == (200, "GET function entrypoint")


async def test_wranglers_default_port_gives_way_when_taken_a_chosen_one_does_not() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with Emulator.load(PROJECT, in_memory=True, workers=1) as emulator:
            async with WorkerEntry(emulator, WorkerAddress("127.0.0.1", port, fallback=True)) as entry:
                assert entry.url.startswith("http://127.0.0.1:") and not entry.url.endswith(f":{port}")
                status, _, _ = await fetch(f"{entry.url}/echo")
                assert status == 200
            with pytest.raises(UserError) as refused:
                await WorkerEntry(emulator, WorkerAddress("127.0.0.1", port)).start()
    assert str(refused.value) == (
        f"cannot serve the Worker on 127.0.0.1:{port}: Address already in use; choose another address with "
        "--ip/--port (or `dev.ip`/`dev.port` in the wrangler config)"
    )


def _source() -> list[str]:
    return (PROJECT / "src" / "index.ts").read_text().splitlines()


async def test_a_body_larger_than_aiohttps_default_reaches_fetch(worker: str) -> None:
    body = b"x" * (3 * 1024 * 1024)  # aiohttp refuses more than 1 MiB unless told otherwise; Cloudflare takes 100 MB
    status, text, _ = await fetch(f"{worker}/echo", "POST", data=io.BytesIO(body))
    assert status == 200, text
    assert json.loads(text)["body"] == body.decode()


async def test_a_body_over_the_limit_answers_413_saying_so() -> None:
    async with (
        Emulator.load(PROJECT, in_memory=True, workers=1) as emulator,
        WorkerEntry(emulator, WorkerAddress("127.0.0.1", 0), max_body_bytes=1000) as entry,
    ):
        assert (await fetch(f"{entry.url}/echo", "POST", data=b"x" * 1000))[0] == 200
        status, text, _ = await fetch(f"{entry.url}/echo", "POST", data=b"x" * 1001)
    assert (status, text) == (
        413,
        "the request body is over 1000 bytes, the most a Worker accepts here; send a smaller body\n",
    )
