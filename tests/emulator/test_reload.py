"""Hot reload through the Python API (emulator.py ``reload``, version.py, reload.py): a copy of
fixtures/handlers/reload is edited and reloaded while its sandboxes keep working."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from emulator import Emulator, Limits
from emulator.addons.dial import Dial
from emulator.addons.identify import Credentials, Identify
from emulator.addons.outbound import Outbound
from emulator.addons.state import Connections
from emulator.addons.streaming import StreamedAnswers
from emulator.config import resolve_config
from emulator.reflection import mask
from emulator.reload import ReloadError, restart_notes
from emulator.state import StateStore
from tests.support.gate import Gate
from tests.support.reloading import URL, answer, copy_project, edit, relabel


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    async with Gate() as started:
        yield started


def load(project: Path, gate: Gate, **options: object) -> Emulator:
    options.setdefault("in_memory", True)
    return Emulator.load(project, workers=1, connect_to={"gate.test": gate.address}, **options)  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_reload_serves_the_edit_and_keeps_runtime_overrides(project: Path, gate: Gate) -> None:
    async with load(project, gate) as emu:
        sandbox = emu.sandbox("s1", cls="Agent")
        await sandbox.set_outbound_handler("answer")
        await sandbox.set_denied_hosts(["denied.test"])
        before = (await sandbox.policy()).overrides
        assert (emu.version, (await sandbox.fetch(URL)).body) == (1, b"v1 answer hello")

        relabel(project, "v2")
        edit(project / "wrangler.jsonc", '"GREETING": "hello"', '"GREETING": "bonjour"')
        reloaded = await emu.reload()

        assert (reloaded.version, reloaded.unchanged, emu.version) == (2, False, 2)
        assert (await sandbox.fetch(URL)).body == b"v2 answer bonjour"
        assert (await sandbox.policy()).overrides == before
        assert (await sandbox.fetch("http://denied.test/")).status == 520


async def test_a_save_that_changes_nothing_keeps_the_version(project: Path, gate: Gate) -> None:
    async with load(project, gate) as emu:
        edit(project / "src" / "index.ts", "// Which version", "//  Which version")  # a comment: same bundle
        reloaded = await emu.reload()
        assert (reloaded.version, reloaded.unchanged) == (1, True)


async def test_dev_vars_are_read_again(project: Path, gate: Gate) -> None:
    async with load(project, gate) as emu:
        (project / ".dev.vars").write_text("GREETING=from dev vars\n")
        await emu.reload()
        # .dev.vars holds secrets: the handler's answer carries the new one, masked (the sandbox never reads it)
        assert await answer(emu, "s1") == b"v1 answer " + mask(len("from dev vars"))


def _line_of(path: Path, text: str) -> tuple[int, int]:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number, line.index(text) + 1
    raise AssertionError(f"{text!r} is not in {path}")


BROKEN_EDITS = [
    # (id, file, old, new, the text the location points at, the problem, a line of the code frame)
    (
        "syntax error",
        "src/label.ts",
        '"v1";',
        '"v1" "v2";',
        '"v2"',
        'Expected ";" but found "\\"v2\\""',
        'export const LABEL = "v1" "v2";',
    ),
    (
        "failed import",
        "src/index.ts",
        'from "./label"',
        'from "./labels"',
        '"./labels"',
        'Could not resolve "./labels"',
        'import { LABEL } from "./labels";',
    ),
    (
        "exception at module load",
        "src/label.ts",
        'export const LABEL = "v1";',
        'export const LABEL = "v1";\nthrow new TypeError("label is broken");',
        "new TypeError",
        "TypeError: label is broken (while the module loaded)",
        '> 2 | throw new TypeError("label is broken");',
    ),
    (
        "exception in a class constructor",
        "src/index.ts",
        "export class Agent extends Container<Env> {}",
        "export class Agent extends Container<Env> {\n"
        "  constructor(ctx: DurableObjectState, env: Env) {\n"
        "    super(ctx, env);\n"
        '    throw new Error("no agents today");\n'
        "  }\n"
        "}",
        "new Error",
        "Error: no agents today (in a Container class's constructor)",
        'throw new Error("no agents today");',
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "points_at", "problem", "frame"), [row[1:] for row in BROKEN_EDITS],
                         ids=[row[0] for row in BROKEN_EDITS])  # fmt: skip
async def test_a_broken_edit_keeps_the_old_version_and_names_the_ts_location(
    project: Path, gate: Gate, file: str, old: str, new: str, points_at: str, problem: str, frame: str
) -> None:
    async with load(project, gate) as emu:
        assert await answer(emu, "s1") == b"v1 answer hello"
        original = (project / file).read_text()
        edit(project / file, old, new)
        with pytest.raises(ReloadError) as raised:
            await emu.reload()
        line, column = _line_of(project / file, points_at)
        assert raised.value.location == f"{file}:{line}:{column}"
        assert raised.value.problem == problem
        assert frame in raised.value.frame
        assert raised.value.serving == 1
        assert (emu.version, await answer(emu, "s1")) == (1, b"v1 answer hello")

        (project / file).write_text(original)  # the next good save recovers
        relabel(project, "v2")
        assert (await emu.reload()).version == 2
        assert await answer(emu, "s1") == b"v2 answer hello"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"GREETING": "hello"', '"GREETING": "hello",,', "wrangler.jsonc:7:"),
        ('"main": "src/index.ts"', '"main": "src/gone.ts"', 'wrangler.jsonc: main "src/gone.ts" does not exist'),
    ],
    ids=["unparsable", "invalid"],
)
async def test_an_invalid_config_keeps_the_old_version(
    project: Path, gate: Gate, old: str, new: str, message: str
) -> None:
    async with load(project, gate) as emu:
        config = project / "wrangler.jsonc"
        original = config.read_text()
        edit(config, old, new)
        with pytest.raises(ReloadError) as raised:
            await emu.reload()
        assert message in str(raised.value)
        assert (emu.version, await answer(emu, "s1")) == (1, b"v1 answer hello")
        config.write_text(original.replace("hello", "again"))
        assert (await emu.reload()).version == 2
        assert await answer(emu, "s1") == b"v1 answer again"


async def test_a_request_in_flight_finishes_on_the_old_version(project: Path, gate: Gate) -> None:
    async with load(project, gate) as emu:
        held = emu.sandbox("held", cls="Agent")
        await held.set_outbound_handler("held")
        old_workers = [worker.process.pid for worker in emu.current_egress().pool.workers if worker.process]
        in_flight = asyncio.create_task(held.fetch(URL))
        await asyncio.wait_for(gate.arrived.wait(), 10)

        relabel(project, "v2")
        await emu.reload()
        assert await answer(emu, "fresh") == b"v2 answer hello"  # new requests: the new version
        assert not in_flight.done()
        assert all(running(pid) for pid in old_workers)  # the old version waits for its request

        gate.opened.set()
        response = await in_flight
        assert (response.status, response.body) == (200, b"v1 released")
        await until(lambda: not any(running(pid) for pid in old_workers))  # then it stops
        assert await answer(emu, "held", "answer") == b"v2 answer hello"


async def test_a_proxied_request_decided_before_a_reload_runs_on_the_version_that_decided_it(
    project: Path, gate: Gate
) -> None:
    async with load(project, gate) as emu:
        await emu.sandbox("s1", cls="Agent").set_outbound_handler("answer")
        credentials = Credentials()
        identify = Identify(lambda ip: None, credentials)
        connections = Connections(identify, emu.registry)
        dial = Dial(connections, {}, lambda ip: None, lambda host: None)
        outbound = Outbound(connections, dial, StreamedAnswers())
        secret = base64.b64encode(f"s1:{credentials.issue('s1')}".encode()).decode()

        async def decided() -> http.HTTPFlow:
            """A flow whose headers arrived: decided, its body still on its way (mitmproxy's hooks, in order)."""
            flow = tflow.tflow(req=http.Request.make("GET", URL, headers={"host": "anywhere.test"}))
            flow.client_conn.timestamp_tls_setup = None  # plain HTTP through the explicit proxy
            flow.request.headers["proxy-authorization"] = f"Basic {secret}"
            identify.requestheaders(flow)
            await outbound.requestheaders(flow)
            return flow

        prompt, late = await decided(), await decided()
        old_workers = [worker.process.pid for worker in emu.current_egress().pool.workers if worker.process]
        relabel(project, "v2")
        await emu.reload()
        await asyncio.sleep(0.1)  # v1 has nothing in flight, but stays: these flows hold its sandbox
        await outbound.request(prompt)
        assert prompt.response is not None and prompt.response.content == b"v1 answer hello"
        assert await answer(emu, "s1") == b"v2 answer hello"

        await until(lambda: not any(running(pid) for pid in old_workers))  # v1 stops all the same (HOLD_FOR_S)
        await outbound.request(late)  # its body took longer than that: it runs on the version serving
        assert late.response is not None and late.response.content == b"v2 answer hello"


async def test_a_streaming_body_finishes_on_the_old_version(project: Path, gate: Gate) -> None:
    async with load(project, gate) as emu:
        streamed = emu.sandbox("streamed", cls="Agent")
        await streamed.set_outbound_handler("streamed")
        in_flight = asyncio.create_task(streamed.fetch(URL))
        await asyncio.wait_for(gate.arrived.wait(), 10)  # the head is out, the body half sent

        relabel(project, "v2")
        await emu.reload()
        assert await answer(emu, "fresh") == b"v2 answer hello"

        gate.opened.set()
        response = await in_flight
        assert (response.header("x-label"), response.body) == ("v1", b"first\nsecond\n")


async def test_a_request_outliving_the_retire_timeout_is_cut_off_with_a_clear_error(project: Path, gate: Gate) -> None:
    async with load(project, gate, limits=Limits(retire_timeout_s=0.2)) as emu:
        held = emu.sandbox("held", cls="Agent")
        await held.set_outbound_handler("held")
        in_flight = asyncio.create_task(held.fetch(URL))
        await asyncio.wait_for(gate.arrived.wait(), 10)
        relabel(project, "v2")
        await emu.reload()
        response = await in_flight
        assert response.status == 503
        assert response.body.decode() == (
            "outbound: the outbound handler outboundHandlers.held of Agent could not finish: its JS worker was "
            "stopped: a reload replaced this version of the handlers 0.2 s ago and this request was still "
            "running. The request was not forwarded.\n"
        )


async def test_an_override_naming_a_removed_handler_is_dropped_with_cloudflares_warning(
    project: Path, gate: Gate, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    async with load(project, gate, in_memory=False, persist_to=state) as emu:
        sandbox = emu.sandbox("s1", cls="Agent")
        await sandbox.set_outbound_handler("other")
        await sandbox.set_outbound_by_host("kept.test", "answer")
        edit(project / "src" / "index.ts", "  other: () => new Response(`${LABEL} other`),\n", "")
        with caplog.at_level(logging.WARNING, logger="outbound"):
            await emu.reload()
        assert (
            "sandbox s1: Ignoring invalid persisted outbound handler override: Error: "
            "Outbound handler method 'other' not found in outboundHandlers for Agent"
        ) in [record.getMessage() for record in caplog.records]
        overrides = (await sandbox.policy()).overrides
        assert (overrides.catch_all, [host for host, _ in overrides.by_host]) == (None, ["kept.test"])
        assert (await sandbox.fetch("http://kept.test/")).body == b"v1 answer hello"

        stored = await StateStore.open(state)  # what a restart would restore: the override is gone there too
        record = await stored.get("s1")
        await stored.close()
        assert record is not None and record.overrides is not None and record.overrides.catch_all is None


async def test_a_runtime_method_caught_by_a_reload_lands_in_the_new_version(project: Path, gate: Gate) -> None:
    async with load(project, gate) as emu:
        sandbox = emu.sandbox("s1", cls="Agent")
        await sandbox.set_outbound_handler("answer")
        live = await emu.registry.get("s1")
        await live.lock.acquire()  # as if another runtime method were saving: the next one waits its turn
        waiting = asyncio.create_task(sandbox.set_outbound_handler("other"))
        relabel(project, "v2")
        await emu.reload()  # switches while that method waits on the v1 sandbox
        live.lock.release()
        await waiting
        assert (await sandbox.fetch(URL)).body == b"v2 other"


async def test_stores_both_versions_bind_stay_open_when_the_bindings_change(project: Path, gate: Gate) -> None:
    async with load(project, gate) as emu:  # in memory: a store opened again would be empty
        assert emu.bindings is not None
        await emu.bindings["KV"].put("kept", b"still here")
        edit(
            project / "wrangler.jsonc",
            '"kv_namespaces"',
            '"r2_buckets": [{ "binding": "R2", "bucket_name": "reload-r2" }],\n  "kv_namespaces"',
        )
        await emu.reload()
        assert "R2" in emu.bindings
        assert await answer(emu, "s1", "kv") == b"v1 still here"


def test_a_changed_dev_address_needs_a_restart(project: Path) -> None:
    before = resolve_config(project, cwd=project)
    edit(project / "wrangler.jsonc", '"name": "reload",', '"name": "reload",\n  "dev": { "port": 9999 },')
    after = resolve_config(project, cwd=project)
    assert restart_notes(before, after) == (
        "dev.ip/dev.port changed (localhost:8787 → localhost:9999); the Worker keeps its address until "
        "`outbound dev` restarts",
    )
    assert restart_notes(before, before) == ()
