"""Containment: a handler that throws, spins, hangs, allocates without bound or crashes its worker costs
that request a clear error and nothing else (issue 2 part 6)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from emulator.runtime.bundle import build_handler, build_runtime
from emulator.runtime.pool import (
    EnginePool,
    HandlerCall,
    HandlerException,
    HandlerRequest,
    HandlerReturnedNonResponse,
    HandlerTimeout,
    Limits,
    ModuleLoadError,
    WorkerLost,
)
from emulator.runtime.standby import Standby
from tests.support.engine import started_pool
from tests.support.gate import Gate

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "fixtures" / "handlers" / "conformance"
REQUEST = HandlerRequest("GET", "http://example.com/", (("host", "example.com"),), None)
LIMITS = Limits(cpu_ms=600, memory_mib=96, response_timeout_s=1.5)


def faulty(name: str) -> HandlerCall:
    return HandlerCall("Faulty", "handler", name, "ab" * 32, runtime=True)


@pytest.fixture(scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EnginePool]:
    async with started_pool(
        PROJECT / "src" / "index.ts", tmp_path_factory.mktemp("pool"), size=2, limits=LIMITS
    ) as started:
        yield started


async def answer(pool: EnginePool) -> int:
    response = await pool.run(faulty("fine"), REQUEST)
    await response.body.read()
    return response.status


async def wait_for_workers(pool: EnginePool, count: int) -> None:
    deadline = time.monotonic() + 10
    while len([w for w in pool.workers if not w.retiring]) < count:
        assert time.monotonic() < deadline, "the pool did not replace its worker"
        await asyncio.sleep(0.05)


async def test_a_throwing_handler_fails_only_its_request(pool: EnginePool) -> None:
    with pytest.raises(HandlerException) as raised:
        await pool.run(faulty("throws"), REQUEST)
    assert str(raised.value) == "TypeError: handler exploded"
    assert "outbound:bundle.js" in raised.value.stack
    with pytest.raises(HandlerException, match="Error: async explosion"):
        await pool.run(faulty("rejects"), REQUEST)
    assert await answer(pool) == 200


async def test_a_non_response_is_reported_as_workerd_does(pool: EnginePool) -> None:
    with pytest.raises(HandlerReturnedNonResponse) as raised:
        await pool.run(faulty("notResponse"), REQUEST)
    assert str(raised.value) == (
        "TypeError: Incorrect type for Promise: the Promise did not resolve to 'Response'. (got string)"
    )


async def test_a_spinning_handler_is_killed_and_the_pool_keeps_serving(pool: EnginePool) -> None:
    spinning = asyncio.create_task(pool.run(faulty("spins"), REQUEST))
    await asyncio.sleep(0.05)
    # the other worker answers while the first one spins
    assert await answer(pool) == 200
    with pytest.raises(WorkerLost) as raised:
        await spinning
    assert raised.value.reason == "cpu"
    assert "more than 600 ms" in str(raised.value)
    await wait_for_workers(pool, 2)
    assert await answer(pool) == 200


async def test_a_hanging_handler_times_out_and_its_worker_is_retired(pool: EnginePool) -> None:
    before = {w.number for w in pool.workers}
    started = time.monotonic()
    with pytest.raises(HandlerTimeout, match="within 1.5 s"):
        await pool.run(faulty("hangs"), REQUEST)
    assert 1.4 < time.monotonic() - started < 3
    await wait_for_workers(pool, 2)
    assert {w.number for w in pool.workers if not w.retiring} != before
    assert await answer(pool) == 200


async def test_a_call_can_set_its_own_response_time_limit(pool: EnginePool) -> None:
    # The Worker's own fetch runs with no limit (math.inf: it may await a long sandbox.exec); a shorter one here.
    started = time.monotonic()
    with pytest.raises(HandlerTimeout, match="within 0.3 s"):
        await pool.run(faulty("hangs"), REQUEST, response_timeout_s=0.3)
    assert time.monotonic() - started < 1.4
    await wait_for_workers(pool, 2)
    assert await answer(pool) == 200


async def test_unbounded_allocation_is_killed_at_the_memory_limit(pool: EnginePool) -> None:
    with pytest.raises(WorkerLost) as raised:
        await pool.run(faulty("hogs"), REQUEST)
    assert raised.value.reason in {"memory", "cpu"}
    await wait_for_workers(pool, 2)
    assert await answer(pool) == 200


async def test_a_crashed_worker_is_replaced(pool: EnginePool) -> None:
    hanging = asyncio.create_task(pool.run(faulty("hangs"), REQUEST))
    await asyncio.sleep(0.1)
    victim = next(w for w in pool.workers if w.exchanges)
    assert victim.process is not None
    os.kill(victim.process.pid, signal.SIGKILL)  # SpiderMonkey handles SIGSEGV itself
    with pytest.raises(WorkerLost) as raised:
        await hanging
    assert raised.value.reason == "crash"
    await wait_for_workers(pool, 2)
    assert await answer(pool) == 200


async def test_module_that_throws_at_load_does_not_start(tmp_path: Path) -> None:
    broken = ROOT / "fixtures" / "broken"
    runtime = await build_runtime(tmp_path)
    bundle = await build_handler(broken / "throws-at-load.ts", broken, tmp_path)
    pool = EnginePool(runtime_path=runtime, bundle_path=bundle.path, env={}, size=1)
    with pytest.raises(ModuleLoadError) as raised:
        await pool.start()
    assert str(raised.value) == 'TypeError: can\'t access property "hosts", settings is undefined'
    assert "outbound:bundle.js" in raised.value.error["stack"]


# -- retiring a pool a reload replaced ---------------------------------------------------------------------

RELOAD = ROOT / "fixtures" / "handlers" / "reload" / "src" / "index.ts"


def agent(name: str) -> HandlerCall:
    return HandlerCall("Agent", "handler", name, "cd" * 32, runtime=True)


@asynccontextmanager
async def gated_pool(out: Path, gate: Gate, **options: Any) -> AsyncIterator[EnginePool]:
    upstream = {"connect_to": {"gate.test": gate.address}, "ca_file": None}
    async with started_pool(
        RELOAD, out, size=1, env={"GREETING": "hi"}, worker_options={"upstream": upstream}, **options
    ) as started:
        yield started


async def test_retire_lets_a_streaming_body_finish_then_stops_the_workers(tmp_path: Path) -> None:
    async with Gate() as gate, gated_pool(tmp_path, gate) as pool:
        response = await pool.run(agent("streamed"), REQUEST)
        await asyncio.wait_for(gate.arrived.wait(), 10)
        worker = pool.workers[0]
        retiring = asyncio.create_task(pool.retire())
        late = await pool.run(agent("answer"), REQUEST)  # decided before the reload: still served
        assert await late.body.read() == b"v1 answer hi"
        assert not retiring.done()
        gate.opened.set()
        assert await response.body.read() == b"first\nsecond\n"
        assert await asyncio.wait_for(retiring, 10) == 0  # nothing was cut off
        assert worker.process is not None and worker.process.returncode is not None


async def test_retire_cuts_off_what_outlives_its_timeout_with_a_clear_error(tmp_path: Path) -> None:
    async with Gate() as gate, gated_pool(tmp_path, gate, limits=Limits(retire_timeout_s=0.1)) as pool:
        response = await pool.run(agent("streamed"), REQUEST)
        await asyncio.wait_for(gate.arrived.wait(), 10)
        assert await pool.retire() == 1
        with pytest.raises(WorkerLost) as raised:
            await response.body.read()
        assert raised.value.reason == "replaced"
        assert str(raised.value) == (
            "was stopped: a reload replaced this version of the handlers 0.1 s ago and this request was still running"
        )


# -- spares (runtime/standby.py) ---------------------------------------------------------------------------


async def ready_spares(standby: Standby, count: int) -> list[int]:
    deadline = time.monotonic() + 10
    while len(standby.ready) < count:
        assert time.monotonic() < deadline, "the standby did not start its spares"
        await asyncio.sleep(0.01)
    return [spare.process.pid for spare in standby.ready]


async def test_a_pool_adopts_spares_and_the_standby_starts_new_ones(tmp_path: Path) -> None:
    runtime = await build_runtime(tmp_path)
    bundle = await build_handler(RELOAD, RELOAD.parent, tmp_path)
    standby = Standby({"runtime": str(runtime), "upstream": {}}, 2)
    standby.fill()
    try:
        spares = await ready_spares(standby, 2)
        pool = EnginePool(
            runtime_path=runtime, bundle_path=bundle.path, env={"GREETING": "hi"}, size=2,
            worker_options={"upstream": {}}, standby=standby,
        )  # fmt: skip
        async with pool:
            assert sorted(w.process.pid for w in pool.workers if w.process) == sorted(spares)
            response = await pool.run(agent("answer"), REQUEST)
            assert await response.body.read() == b"v1 answer hi"
            assert not set(await ready_spares(standby, 2)) & set(spares)  # two new ones, warming for the next
    finally:
        left = standby.ready
        await standby.close()
    assert len(left) == 2 and all(spare.process.returncode is not None for spare in left)  # close stops them


async def test_a_spare_that_died_is_replaced_by_a_worker_of_the_pools_own(tmp_path: Path) -> None:
    runtime = await build_runtime(tmp_path)
    bundle = await build_handler(RELOAD, RELOAD.parent, tmp_path)
    standby = Standby({"runtime": str(runtime), "upstream": {}}, 1)
    standby.fill()
    try:
        [spare] = await ready_spares(standby, 1)
        os.kill(spare, signal.SIGKILL)
        pool = EnginePool(
            runtime_path=runtime, bundle_path=bundle.path, env={"GREETING": "hi"}, size=1,
            worker_options={"upstream": {}}, standby=standby,
        )  # fmt: skip
        async with pool:
            assert [w.process.pid for w in pool.workers if w.process] != [spare]
            response = await pool.run(agent("answer"), REQUEST)
            assert await response.body.read() == b"v1 answer hi"
    finally:
        await standby.close()


async def test_a_spare_whose_emulator_went_away_ends(tmp_path: Path) -> None:
    # The kernel's parent-death signal covers a killed emulator only once the worker has asked for it, early in
    # its start; a spare started just before the kill, or one whose socket is closed, must end all the same.
    runtime = await build_runtime(tmp_path)
    standby = Standby({"runtime": str(runtime), "upstream": {}}, 1)
    standby.fill()
    try:
        await ready_spares(standby, 1)
        [spare] = standby.ready
        spare.socket.close()  # what the worker sees of an emulator killed with SIGKILL
        assert await asyncio.wait_for(spare.process.wait(), 10) == 0
    finally:
        await standby.close()


async def test_spares_started_with_other_options_are_not_adopted(tmp_path: Path) -> None:
    runtime = await build_runtime(tmp_path)
    bundle = await build_handler(RELOAD, RELOAD.parent, tmp_path)
    standby = Standby({"runtime": str(runtime), "upstream": {"connect_to": {"a.test": "127.0.0.1:1"}}}, 1)
    standby.fill()
    try:
        spares = await ready_spares(standby, 1)
        pool = EnginePool(
            runtime_path=runtime, bundle_path=bundle.path, env={"GREETING": "hi"}, size=1,
            worker_options={"upstream": {}}, standby=standby,
        )  # fmt: skip
        async with pool:
            assert [w.process.pid for w in pool.workers if w.process] != spares
            assert [spare.process.pid for spare in standby.ready] == spares
    finally:
        await standby.close()


async def test_a_worker_idle_for_longer_than_the_cpu_limit_is_not_killed_for_a_slow_first_reply(
    pool: EnginePool,
) -> None:
    # An idle worker sends no BEAT. Its first reply after an idle spell is held back here (SIGSTOP, as a busy
    # machine or a flooded emulator would delay it) for less than the CPU limit: the worker did nothing wrong.
    await wait_for_workers(pool, 2)
    await asyncio.sleep(LIMITS.cpu_ms / 1000 + 0.2)  # idle past the CPU limit
    workers = [w for w in pool.workers if not w.retiring]
    for worker in workers:
        assert worker.process is not None
        os.kill(worker.process.pid, signal.SIGSTOP)
    try:
        answering = asyncio.create_task(answer(pool))
        await asyncio.sleep(LIMITS.cpu_ms / 1000 / 2)  # several supervisor ticks, all under the limit
    finally:
        for worker in workers:
            assert worker.process is not None
            os.kill(worker.process.pid, signal.SIGCONT)
    assert await answering == 200
    assert all(not w.dead for w in workers), "a healthy worker was killed for a reply it had not had time to send"
