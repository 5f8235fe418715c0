"""Hot reload in a real `outbound dev`: a saved edit is served while requests keep coming, and none fails.

Requests go to the Worker's own fetch and, through the explicit proxy with a sandbox's credentials, to an
outbound handler; the handler file is edited in the middle of the burst, while a response body is streaming.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.conftest import ROOT, DevServer, start_dev, traversable_folder
from tests.support.upstream import LocalInternet

pytestmark = pytest.mark.e2e

FIXTURE = ROOT / "fixtures" / "handlers" / "reload"
CLIENTS = 4  # per path, each sending one request after the other
SLOW_PARTS = 120  # 50 ms apart: the slow body takes 6 s, longer than a reload with cold spare workers on a busy machine


@pytest.fixture
async def dev(internet: LocalInternet, tmp_path: Path) -> AsyncIterator[tuple[DevServer, Path]]:
    project = Path(shutil.copytree(FIXTURE, tmp_path / "project"))
    server = await start_dev(project, traversable_folder("reload"), internet, "explicit")
    try:
        yield server, project
    finally:
        await server.stop()
        shutil.rmtree(server.state, ignore_errors=True)


async def test_an_edit_is_served_and_no_request_fails_during_the_reload(dev: tuple[DevServer, Path]) -> None:
    server, project = dev
    async with server.remote() as remote:
        await remote.create_sandbox("burst", "Agent")
        await remote.sandbox("burst").set_outbound_handler("answer")
        proxy = (await remote.sandbox("burst").launch_info("Agent"))["env"]["HTTP_PROXY"]
    worker = str(server.info["worker"])
    seen: dict[str, list[tuple[int, str]]] = {}
    stop = asyncio.Event()

    async def client(name: str, url: str, **options: str) -> None:
        answers = seen.setdefault(name, [])
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                async with session.get(url, **options) as response:  # type: ignore[arg-type]
                    answers.append((response.status, await response.text()))

    clients = [asyncio.create_task(client(f"worker-{n}", worker)) for n in range(CLIENTS)]
    clients += [
        asyncio.create_task(client(f"sandbox-{n}", "http://anywhere.test/", proxy=proxy)) for n in range(CLIENTS)
    ]
    try:
        await until(lambda: sum(map(len, seen.values())) >= 40)
        async with aiohttp.ClientSession() as session, session.get(f"{worker}/slow?parts={SLOW_PARTS}") as slow:
            first = await slow.content.readline()  # the body streams for a while yet
            (project / "src" / "label.ts").write_text('export const LABEL = "v2";\n')
            await until(lambda: all(answers and answers[-1][1].startswith("v2") for answers in seen.values()))
            assert not slow.content.is_eof()  # v2 serves, and v1's body is still coming
            rest = await slow.content.read()
        assert (slow.status, first + rest) == (200, b"".join(b"v1 part %d\n" % n for n in range(SLOW_PARTS)))
        count = sum(map(len, seen.values()))
        await until(lambda: sum(map(len, seen.values())) >= count + 40)  # and it keeps serving
    finally:
        stop.set()
        await asyncio.gather(*clients)

    for name, answers in seen.items():
        expected = ["v1 hello", "v2 hello"] if name.startswith("worker") else ["v1 answer hello", "v2 answer hello"]
        assert {status for status, _ in answers} == {200}, (name, answers)
        bodies = [body for _, body in answers]
        assert set(bodies) == set(expected), (name, set(bodies))
        switched = bodies.index(expected[1])
        assert set(bodies[switched:]) == {expected[1]}, name  # once served by v2, never by v1 again
    log = server.log.read_text()
    assert re.search(r"^outbound: v2 serving \(reloaded in \d+ ms\)$", log, re.MULTILINE), log
    assert "outbound: v1 serving" in log


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
