"""Handler dispatch figures through the Python API, beside a direct request to the same upstream.

    .venv/bin/python bench/dispatch.py [--requests 5000] [--concurrency 64] [--soak 100000]

Prints, for each path, median and p99 latency (µs) of sequential requests, requests/s with --concurrency
requests in flight, and the ratio to the direct baseline measured in the same run; then the JS workers' RSS
before and after a soak of --soak JS-answered requests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from _upstream import start_upstream

from emulator import Emulator

HANDLERS = Path(__file__).parent / "handlers"
Request = Callable[[], Awaitable[object]]


async def measure(send: Request, count: int, concurrency: int) -> tuple[float, float, float]:
    for _ in range(min(500, count)):
        await send()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await send()
        samples.append(time.perf_counter() - started)
    samples.sort()
    median = statistics.median(samples) * 1e6
    p99 = samples[int(len(samples) * 0.99) - 1] * 1e6
    semaphore = asyncio.Semaphore(concurrency)

    async def limited() -> None:
        async with semaphore:
            await send()

    total = count * 4
    started = time.perf_counter()
    await asyncio.gather(*(limited() for _ in range(total)))
    rate = total / (time.perf_counter() - started)
    return median, p99, rate


def rss_mib(emu: Emulator) -> float:
    pool = emu.current_egress().pool
    return sum(worker.rss_bytes() for worker in pool.workers) / 2**20


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--soak", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()

    runner, [port] = await start_upstream()
    address = f"127.0.0.1:{port}"
    async with aiohttp.ClientSession() as client:

        async def direct() -> None:
            async with client.get(f"http://{address}/") as response:
                await response.read()

        async with Emulator.load(
            HANDLERS, in_memory=True, connect_to={"upstream.bench": address}, workers=options.workers
        ) as emu:
            passthrough = emu.sandbox("bench-pass", cls="Bench")
            synthetic = emu.sandbox("bench-js", cls="Bench")
            await synthetic.set_outbound_handler("synthetic")
            inject = emu.sandbox("bench-fetch", cls="Bench")
            await inject.set_outbound_handler("inject")

            async def via(sandbox: object) -> Request:
                async def send() -> None:
                    response = await sandbox.fetch("http://upstream.bench/")  # type: ignore[attr-defined]
                    assert response.status == 200, response.body

                return send

            paths: list[tuple[str, Request]] = [
                ("direct request to the upstream (baseline)", direct),
                ("decision with no JS (passthrough)", await via(passthrough)),
                ("JS handler, synthetic Response", await via(synthetic)),
                ("JS handler, set header + fetch()", await via(inject)),
            ]
            print(
                f"{options.requests} sequential requests per path; {options.requests * 4} with "
                f"{options.concurrency} in flight; {options.workers} JS workers"
            )
            print(f"{'path':44} {'median µs':>10} {'p99 µs':>9} {'req/s':>9} {'× baseline':>11}")
            baseline_rate = 0.0
            for name, send in paths:
                median, p99, rate = await measure(send, options.requests, options.concurrency)
                baseline_rate = baseline_rate or rate
                print(f"{name:44} {median:10.0f} {p99:9.0f} {rate:9.0f} {rate / baseline_rate:11.2f}")

            if options.soak:
                send = await via(synthetic)
                start = rss_mib(emu)
                semaphore = asyncio.Semaphore(options.concurrency)

                async def limited() -> None:
                    async with semaphore:
                        await send()

                started = time.perf_counter()
                for _ in range(options.soak // 10_000 or 1):
                    await asyncio.gather(*(limited() for _ in range(min(10_000, options.soak))))
                elapsed = time.perf_counter() - started
                print(
                    f"soak: {options.soak} JS-answered requests in {elapsed:.1f} s; JS worker RSS "
                    f"{start:.0f} MiB at start, {rss_mib(emu):.0f} MiB at end (sum over workers)"
                )
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
