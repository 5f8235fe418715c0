"""console.* from a handler reaches the emulator as ConsoleEntry values (js/console.js -> worker.py Host.log ->
pool.py): the five methods Workers prints, at their levels, formatted as `wrangler dev` prints them, tagged
with the request that logged; the other console methods print nothing, as in Workers; uncaught errors in
timers and reportError() are logged as "Uncaught ..." at error level.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.runtime.pool import ConsoleEntry, EnginePool, HandlerCall, HandlerRequest
from tests.support.engine import started_pool

HANDLER = """\
import { Sandbox } from "@cloudflare/sandbox";

export class Logs extends Sandbox {}

Logs.outboundByHost = {
  "levels.test": async (request) => {
    console.debug("debug", 1);
    console.log("log %s=%d", "n", 42, { nested: { deep: [1, 2] } });
    console.info(new Map([["k", "v"]]));
    console.warn("warn", [1, "two"]);
    console.error("error", null);
    for (const method of ["dir", "table", "trace", "group", "groupEnd", "count", "time", "timeEnd", "assert"]) {
      console[method]("no-op");
    }
    console.log(new Headers({ "x-a": "1" }), new URL(request.url).hostname);
    return new Response("ok");
  },
  "uncaught.test": async () => {
    await new Promise((resolve) => setTimeout(() => {
      resolve();
      throw new TypeError("timer exploded");
    }, 1));
    await new Promise((resolve) => setTimeout(resolve, 5));
    reportError("reported");
    return new Response("ok");
  },
  "interleave.test": async (request) => {
    const tag = new URL(request.url).searchParams.get("t");
    for (let i = 0; i < 3; i++) {
      console.log(`${tag} ${i}`);
      await new Promise((resolve) => setTimeout(resolve, tag === "a" ? 7 : 5));
    }
    return new Response(tag);
  },
};
export { ContainerProxy } from "@cloudflare/sandbox";
"""


@pytest.fixture
async def logged(tmp_path: Path) -> AsyncIterator[tuple[EnginePool, list[ConsoleEntry]]]:
    entry = tmp_path / "handler.js"
    entry.write_text(HANDLER)
    entries: list[ConsoleEntry] = []
    async with started_pool(entry, tmp_path / "out", size=1, on_console=entries.append) as pool:
        yield pool, entries


async def run(pool: EnginePool, url: str, tag: str) -> bytes:
    host = url.split("/")[2]
    request = HandlerRequest("GET", url, (("host", host),), None)
    response = await pool.run(HandlerCall("Logs", "byHost", host, "d" * 64), request, tag=tag)
    return await response.body.read()


async def test_the_five_methods_print_at_their_levels_and_the_rest_are_no_ops(
    logged: tuple[EnginePool, list[ConsoleEntry]],
) -> None:
    pool, entries = logged
    assert await run(pool, "http://levels.test/", "levels") == b"ok"
    assert [(entry.level, entry.message) for entry in entries] == [
        ("debug", "debug 1"),
        ("log", "log n=42 { nested: { deep: [ 1, 2 ] } }"),
        ("info", "Map(1) { 'k' => 'v' }"),
        ("warn", "warn [ 1, 'two' ]"),
        ("error", "error null"),
        ("log", "Headers(1) { 'x-a' => '1' } levels.test"),
    ]
    assert {entry.tag for entry in entries} == {"levels"}


async def test_uncaught_timer_errors_and_reported_errors_are_logged_as_uncaught(
    logged: tuple[EnginePool, list[ConsoleEntry]],
) -> None:
    pool, entries = logged
    assert await run(pool, "http://uncaught.test/", "uncaught") == b"ok"
    assert [entry.level for entry in entries] == ["error", "error"]
    timer, reported = (entry.message for entry in entries)
    assert timer.startswith("Uncaught TypeError: timer exploded\n    at ")
    assert "outbound:bundle.js:" in timer
    assert "outbound:runtime.js" not in timer
    assert reported == "Uncaught reported"
    assert {entry.tag for entry in entries} == {"uncaught"}


async def test_interleaved_requests_keep_their_own_tags(
    logged: tuple[EnginePool, list[ConsoleEntry]],
) -> None:
    pool, entries = logged
    bodies = await asyncio.gather(
        run(pool, "http://interleave.test/?t=a", "a"), run(pool, "http://interleave.test/?t=b", "b")
    )
    assert list(bodies) == [b"a", b"b"]
    assert sorted((entry.tag, entry.message) for entry in entries) == [
        ("a", "a 0"),
        ("a", "a 1"),
        ("a", "a 2"),
        ("b", "b 0"),
        ("b", "b 1"),
        ("b", "b 2"),
    ]
    by_request = {entry.request_id: entry.tag for entry in entries}
    assert len(by_request) == 2
    # The two requests really interleaved: their lines alternate rather than one finishing first.
    assert [entry.tag for entry in entries][:2] in (["a", "b"], ["b", "a"])
