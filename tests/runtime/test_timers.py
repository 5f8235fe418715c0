"""Timers on the worker's Python loop (worker.py ``Host.timer_set``/``timer_clear``/``_fire``, js/timers.js).

A timer fires in the context of the request that set it, so its console output carries that request's tag
even while other requests interleave; Workers refuses timers in global scope (outside any request); and
setting and clearing (or firing) timers leaves nothing behind in the worker's Python timer table or in JS.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.runtime.bundle import build_runtime
from emulator.runtime.pool import ConsoleEntry, EnginePool, HandlerCall, HandlerRequest
from tests.support.engine import started_pool

ROOT = Path(__file__).resolve().parents[2]

HANDLER = """\
import { Sandbox } from "@cloudflare/sandbox";

export class Timed extends Sandbox {}

const later = (ms, text) => new Promise((resolve) => setTimeout(() => { console.log(text); resolve(); }, ms));

Timed.outboundByHost = {
  "slow.test": async () => {
    await later(80, "slow timer fired");
    return new Response("slow");
  },
  "fast.test": async () => {
    await later(5, "fast timer fired");
    let ticks = 0;
    await new Promise((resolve) => {
      const id = setInterval(() => {
        console.log(`fast tick ${++ticks}`);
        if (ticks === 2) { clearInterval(id); resolve(); }
      }, 5);
    });
    return new Response("fast");
  },
};
export { ContainerProxy } from "@cloudflare/sandbox";
"""


def request(host: str) -> HandlerRequest:
    return HandlerRequest("GET", f"http://{host}/", (("host", host),), None)


@pytest.fixture
async def logged(tmp_path: Path) -> AsyncIterator[tuple[EnginePool, list[ConsoleEntry]]]:
    entry = tmp_path / "handler.js"
    entry.write_text(HANDLER)
    entries: list[ConsoleEntry] = []
    async with started_pool(entry, tmp_path / "out", size=1, on_console=entries.append) as pool:
        yield pool, entries


async def test_timer_output_is_tagged_with_its_request_while_requests_interleave(
    logged: tuple[EnginePool, list[ConsoleEntry]],
) -> None:
    pool, entries = logged

    async def run(host: str) -> bytes:
        response = await pool.run(HandlerCall("Timed", "byHost", host, "c" * 64), request(host), tag=host)
        return await response.body.read()

    slow = asyncio.create_task(run("slow.test"))
    await asyncio.sleep(0.02)  # the slow request's timer is pending while the fast one runs
    assert await run("fast.test") == b"fast"
    assert await slow == b"slow"
    assert [(entry.message, entry.tag) for entry in entries] == [
        ("fast timer fired", "fast.test"),
        ("fast tick 1", "fast.test"),
        ("fast tick 2", "fast.test"),
        ("slow timer fired", "slow.test"),
    ]
    assert entries[0].request_id != entries[-1].request_id


# Runs the real runtime and Host in a fresh process (pythonmonkey cannot be unloaded from this one) and
# reports the sizes of the Python timer table and of the JS timer map after each phase.
TABLE_PROBE = textwrap.dedent(
    """\
    import asyncio, json, socket, sys
    from pathlib import Path
    from emulator.runtime import leakfix
    from emulator.runtime.worker import CURRENT_REQUEST, RUNTIME_FILENAME, Channel, Host

    async def main():
        loop = asyncio.get_running_loop()
        leakfix.install(loop)
        ours, _theirs = socket.socketpair()
        _, channel = await loop.create_unix_connection(Channel, sock=ours)
        import pythonmonkey as pm
        host = Host(channel, {})
        pm.globalThis["__outbound_host"] = host.as_js_object()
        pm.eval(Path(sys.argv[1]).read_text(), {"filename": RUNTIME_FILENAME})
        runtime = pm.globalThis["__outbound_runtime"]
        host.fire_timer = runtime["fireTimer"]
        sizes = {}
        # Outside any request (CURRENT_REQUEST 0, as while the module loads) Workers refuses timers.
        sizes["global scope"] = pm.eval("(() => { try { setTimeout(() => {}, 1); } catch (e) { return e.message; } })()")
        sizes["global scope table"] = [len(host._timers), runtime["activeTimers"]()]
        CURRENT_REQUEST.set(1)  # from here on, as inside a request
        pm.eval("for (let i = 0; i < 10000; i++) clearTimeout(setTimeout(() => {}, 60000));")
        sizes["cleared"] = [len(host._timers), runtime["activeTimers"]()]
        pm.eval("globalThis.fired = 0; for (let i = 0; i < 2000; i++) setTimeout(() => fired++, 0);")
        sizes["pending"] = [len(host._timers), runtime["activeTimers"]()]
        await asyncio.sleep(0.2)
        sizes["fired"] = [len(host._timers), runtime["activeTimers"](), pm.eval("fired")]
        pm.eval("globalThis.ticks = 0; globalThis.iv = setInterval(() => { if (++ticks === 5) clearInterval(iv); }, 0);")
        await asyncio.sleep(0.2)
        sizes["interval"] = [len(host._timers), runtime["activeTimers"](), pm.eval("ticks")]
        print(json.dumps(sizes))

    asyncio.run(main())
    """
)


GLOBAL_SCOPE_ERROR = (
    "Disallowed operation called within global scope. Asynchronous I/O (ex: fetch() or connect()), setting a "
    "timeout, and generating random values are not allowed within global scope. To fix this error, perform this "
    "operation within a handler. https://developers.cloudflare.com/workers/runtime-apis/handlers/"
)


async def test_timers_refused_in_global_scope_and_10k_set_clear_cycles_leave_nothing_behind(
    tmp_path: Path,
) -> None:
    runtime = await build_runtime(tmp_path)
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-c", TABLE_PROBE, str(runtime), cwd=ROOT, stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(probe.communicate(), 60)
    assert probe.returncode == 0, stderr.decode()
    sizes = json.loads(stdout)
    assert sizes == {
        "global scope": GLOBAL_SCOPE_ERROR,
        "global scope table": [0, 0],
        "cleared": [0, 0],
        "pending": [2000, 2000],
        "fired": [0, 0, 2000],
        "interval": [0, 0, 5],
    }
