"""A handler that throws, returns a non-Response, hangs, spins, hogs memory or loses its JS worker costs its
own request a clear 5xx through the real proxy, and nothing else: nothing is forwarded, another sandbox keeps
getting 200s during and after, and the audit record carries the error.

The same faults one layer down: tests/runtime/test_pool.py (the pool's exceptions and worker replacement) and
tests/conformance/test_containment.py (the Python API's answers). Limits here are limited_dev.py's."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults.conftest import FAULTS, FaultsDev, Healthy
from tests.support.upstream import LocalInternet

pytestmark = pytest.mark.e2e

NOT_FORWARDED = "The request was not forwarded.\n"
THROW_LINE = next(
    n for n, text in enumerate((FAULTS / "src" / "index.ts").read_text().splitlines(), 1) if "handler exploded" in text
)
THROW_AT = f"src/index.ts:{THROW_LINE}:11"


async def settle(healthy: Healthy, count: int = 3) -> None:
    """Let the healthy sandbox get ``count`` more answers (so some come after the fault)."""
    target = len(healthy.statuses) + count
    deadline = time.monotonic() + 10
    while len(healthy.statuses) < target:
        assert time.monotonic() < deadline, healthy.failures
        await asyncio.sleep(0.02)


def forwarded(internet: LocalInternet, tag: str) -> list[object]:
    return [seen for seen in internet.recorder.requests if tag in str(seen["path"])]


@pytest.mark.parametrize(
    ("handler", "status", "says", "error"),
    [
        (
            "throws",
            500,
            f"outboundHandlers.throws of Faulty threw TypeError at {THROW_AT};",
            f"TypeError: handler exploded at {THROW_AT}",
        ),
        (
            "notResponse",
            500,
            "outboundHandlers.notResponse of Faulty returned something other than a Response;",
            "TypeError: Incorrect type for Promise: the Promise did not resolve to 'Response'.",
        ),
        (
            "hangs",
            504,
            "outboundHandlers.hangs of Faulty did not return a Response in time;",
            "the handler did not return a Response within 1.5 s",
        ),
        (
            "spins",
            503,
            "outboundHandlers.spins of Faulty could not finish: its JS worker was killed:",
            "was killed: a handler kept its event loop busy for more than 800 ms of CPU (an endless loop?)",
        ),
        (
            "hogs",
            503,
            "outboundHandlers.hogs of Faulty could not finish: its JS worker was killed:",
            "was killed: it used more than 160 MiB of memory",
        ),
    ],
)
async def test_a_faulty_handler_fails_closed_and_alone(
    dev: FaultsDev, healthy: Healthy, faults_internet: LocalInternet, handler: str, status: int, says: str, error: str
) -> None:
    await settle(healthy, 1)
    client = await dev.sandbox(f"faulty-{handler}", "Faulty", handler)
    tag = f"fault-{handler}"
    answer, body = await client.get(f"http://upstream.test/echo?tag={tag}")
    assert answer == status, body
    assert body.decode().startswith(f"outbound: the outbound handler {says}"), body
    assert body.decode().endswith(NOT_FORWARDED)
    assert "handler exploded" not in body.decode()  # the message may carry secrets: the log has it, not the sandbox
    assert forwarded(faults_internet, tag) == []
    [record] = await dev.records(f"faulty-{handler}", 1)
    assert (record["handler"], record["status"], record["error"]) == (f"outboundHandlers.{handler}", status, error)
    await settle(healthy)
    assert set(healthy.statuses) == {200}, healthy.failures
    assert await client.get("http://upstream.test/echo") == (status, body)  # the same answer again: still serving


async def test_a_crashed_worker_fails_only_the_request_it_was_running(dev: FaultsDev, healthy: Healthy) -> None:
    client = await dev.sandbox("faulty-crash", "Faulty", "marked")  # hangs holding 64 MiB: its worker stands out
    before = {pid: rss_mib(pid) for pid in dev.worker_pids()}
    pending = asyncio.get_running_loop().create_task(client.get("http://upstream.test/echo?tag=fault-crash"))
    deadline = time.monotonic() + 5
    while not (grown := [pid for pid in dev.worker_pids() if rss_mib(pid) - before.get(pid, 1e9) > 48]):
        assert time.monotonic() < deadline, "no worker took up the marked handler's 64 MiB"
        await asyncio.sleep(0.02)
    [victim] = grown
    os.kill(victim, signal.SIGKILL)  # what a crash in pythonmonkey looks like from outside (SpiderMonkey traps SIGSEGV)
    status, body = await pending
    assert status == 503
    assert body.decode() == (
        "outbound: the outbound handler outboundHandlers.marked of Faulty could not finish: its JS worker crashed "
        f"(the JS engine exited unexpectedly). {NOT_FORWARDED}"
    )
    [record] = await dev.records("faulty-crash", 1)
    assert record["status"] == 503 and "crashed" in str(record["error"])
    await settle(healthy)
    # The marked handler only awaits, so its worker kept serving: the healthy sandbox's one request in flight
    # may have been running there when it died, and fails with it (a request a lost worker had not started is
    # resent; one that ran handler code is not, as that code may have had effects). Nothing else fails.
    assert set(healthy.statuses) <= {200, -503} and healthy.statuses.count(-503) <= 1, healthy.failures
    assert all("outboundHandlers.fine of Faulty could not finish: its JS worker crashed" in f for f in healthy.failures)
    assert healthy.statuses[-3:] == [200] * 3


async def test_requests_queued_behind_a_blocked_worker_are_served_by_another(dev: FaultsDev) -> None:
    # A spinning handler blocks its worker's event loop; requests the pool had already sent to that worker never
    # ran. They used to die with it (503 "its JS worker was killed") although their handler was fine: now the
    # pool sends a request its worker never started (no ACCEPT frame) to another worker.
    spinner = await dev.sandbox("queue-spins", "Faulty", "spins")
    patient = await dev.sandbox("queue-patient", "Faulty", "slowFine")
    spinning = asyncio.get_running_loop().create_task(spinner.get("http://upstream.test/echo"))
    await asyncio.sleep(0.1)
    answers = await asyncio.gather(*(patient.get(f"http://upstream.test/{n}") for n in range(6)))
    assert answers == [(200, b"fine")] * 6
    assert (await spinning)[0] == 503


def rss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
