"""Hot reload figures for `outbound dev`: how soon a save is served, and what a stream of reloads costs.

    .venv/bin/python bench/reload.py [--saves 30] [--interval 1.0] [--seconds 6] [--connections 8] [--reload-every 1,3]
                                     [--storm 30x0.1]

One `outbound dev` (explicit capture) serves a copy of fixtures/handlers/reload. Printed:

- save-to-serving latency: from writing src/label.ts to the first answer of the Worker's fetch that carries the
  new label (polled back to back on one connection), median and p90 over --saves saves --interval s apart (a
  person saving; the spare workers are warm again by the next save), beside the reload time the emulator
  itself reports ("reloaded in N ms");
- requests/s with --connections keep-alive connections for --seconds, to the Worker's fetch and to an outbound
  handler through the explicit proxy: without reloads (the baseline), then while a save lands every N s for each
  N of --reload-every; with the ratio to the baseline and the requests that failed (there should be none).
  Each reload boots replacement spare workers (~0.35 s of CPU each, one per worker): that, not the switch, is
  what a stream of reloads costs;
- a storm (--storm NxGAP: N saves GAP s apart, faster than reloads) while the connections ask the Worker's fetch:
  from the last save to the first answer of the last version, the reloads the terminal showed, and the JS worker
  processes and RSS (the emulator's, the workers' together) before, at the peak, and 3 s after the last version
  served (retired versions have stopped by then).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "handlers" / "reload"


@dataclass
class Dev:
    process: asyncio.subprocess.Process
    info: dict[str, str]
    log: Path
    project: Path

    def save(self, label: str) -> None:
        (self.project / "src" / "label.ts").write_text(f'export const LABEL = "{label}";\n')

    def reload_times_ms(self) -> list[int]:
        return [int(ms) for ms in re.findall(r"serving \(reloaded in (\d+) ms\)", self.log.read_text())]


async def start_dev(folder: Path) -> Dev:
    project = Path(shutil.copytree(FIXTURE, folder / "project"))
    state = folder / "state"
    log = folder / "dev.log"
    with open(log, "wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "emulator", "dev", str(project), "--capture", "explicit", "--persist-to", str(state),
            "--port", "0", cwd=ROOT, stdout=output, stderr=output,
        )  # fmt: skip
    for _ in range(400):
        if (state / "dev.json").exists():
            return Dev(process, json.loads((state / "dev.json").read_text()), log, project)
        await asyncio.sleep(0.05)
    raise RuntimeError(f"outbound dev did not start:\n{log.read_text()}")


async def sandbox_proxy(info: dict[str, str]) -> str:
    """A sandbox whose requests the `answer` handler serves; its HTTP_PROXY (with its credentials)."""
    headers = {"authorization": f"Bearer {info['token']}"}
    async with aiohttp.ClientSession(base_url=info["control"], headers=headers) as control:
        await control.post("/v1/sandboxes", json={"id": "bench", "class": "Agent"})
        policy = {"method": "setOutboundHandler", "args": ["answer"]}
        await control.post("/v1/sandboxes/bench/policy", json=policy)
        async with control.get("/v1/sandboxes/bench/launch") as response:
            launch = await response.json()
    return str(launch["env"]["HTTP_PROXY"])


async def save_to_serving(dev: Dev, saves: int, interval: float) -> list[float]:
    worker = dev.info["worker"]
    samples: list[float] = []
    async with aiohttp.ClientSession() as session:
        for n in range(saves):
            label = f"s{n}"
            saved = time.perf_counter()
            dev.save(label)
            while True:
                async with session.get(worker) as response:
                    if (await response.text()).startswith(f"{label} "):
                        break
            samples.append((time.perf_counter() - saved) * 1000)
            await asyncio.sleep(interval)
    return samples


async def load(url: str, seconds: float, connections: int, proxy: str | None = None) -> tuple[int, int]:
    """(answered, failed) with ``connections`` clients sending one request after the other."""
    answered = failed = 0
    deadline = time.monotonic() + seconds

    async def client() -> None:
        nonlocal answered, failed
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(url, proxy=proxy) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                answered += ok
                failed += not ok

    await asyncio.gather(*(client() for _ in range(connections)))
    return answered, failed


async def saving(dev: Dev, every: float, stop: asyncio.Event) -> int:
    saves = 0
    while not stop.is_set():
        dev.save(f"r{saves}")
        saves += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return saves


@dataclass(frozen=True)
class Footprint:
    workers: int
    emulator_mib: float
    workers_mib: float

    @classmethod
    def of(cls, pid: int) -> Footprint:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        workers = [int(c) for c in children if b"runtime.worker" in _read(f"/proc/{c}/cmdline")]
        return cls(len(workers), _rss_mib(pid), sum(map(_rss_mib, workers)))

    def __str__(self) -> str:
        return f"{self.workers} workers, RSS {self.emulator_mib:.0f} + {self.workers_mib:.0f} MiB"


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def _rss_mib(pid: int) -> float:
    lines = _read(f"/proc/{pid}/status").decode().splitlines()
    return next((int(line.split()[1]) / 1024 for line in lines if line.startswith("VmRSS:")), 0.0)


async def storm(dev: Dev, saves: int, gap: float, connections: int) -> None:
    pid = dev.process.pid
    before, peak = Footprint.of(pid), Footprint.of(pid)
    shown = len(dev.reload_times_ms())
    stop = asyncio.Event()
    last = "storm-last"
    served = asyncio.Event()

    async def client() -> None:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                async with session.get(dev.info["worker"]) as response:
                    if (await response.text()).startswith(f"{last} "):
                        served.set()

    clients = [asyncio.create_task(client()) for _ in range(connections)]
    for n in range(saves):
        dev.save(f"storm{n}")
        await asyncio.sleep(gap)
        peak = max(peak, Footprint.of(pid), key=lambda footprint: footprint.workers)
    dev.save(last)
    saved = time.perf_counter()
    while not served.is_set():
        await asyncio.sleep(0.005)
        peak = max(peak, Footprint.of(pid), key=lambda footprint: footprint.workers)
    latency_ms = (time.perf_counter() - saved) * 1000
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*clients)
    reloads = len(dev.reload_times_ms()) - shown
    print(f"storm of {saves} saves {gap:g} s apart, {connections} connections asking the Worker's fetch")
    print(f"  last save → served   {latency_ms:.0f} ms ({reloads} reloads shown)")
    print(f"  before               {before}")
    print(f"  peak                 {peak}")
    print(f"  3 s after            {Footprint.of(pid)}")


def p90(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(len(samples) * 0.9) - 1)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--reload-every", default="1,3", help="seconds between saves, comma-separated")
    parser.add_argument("--storm", default="30x0.1", help="NxGAP: N saves GAP seconds apart (0x0: none)")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="outbound-bench-reload-"))
    dev = await start_dev(folder)
    try:
        proxy = await sandbox_proxy(dev.info)
        await asyncio.sleep(2)  # the spare workers outbound dev keeps for reloads boot

        latency = await save_to_serving(dev, options.saves, options.interval)
        reloads = dev.reload_times_ms()
        print(f"save-to-serving over {len(latency)} saves {options.interval:g} s apart (Worker fetch polled)")
        print(f"{'':28}{'median ms':>10}{'p90 ms':>8}{'min':>6}{'max':>6}")
        print(
            f"{'save → first new answer':28}{statistics.median(latency):10.0f}{p90(latency):8.0f}"
            f"{min(latency):6.0f}{max(latency):6.0f}"
        )
        print(
            f"{'reload (emulator’s figure)':28}{statistics.median(reloads):10.0f}{p90(reloads):8.0f}"
            f"{min(reloads):6.0f}{max(reloads):6.0f}"
        )
        print()

        intervals = [float(every) for every in options.reload_every.split(",")]
        print(f"{options.connections} keep-alive connections for {options.seconds:g} s per row")
        print(f"{'path':28}{'saves':>12}{'reloads':>9}{'req/s':>8}{'failed':>8}{'× without':>11}")
        for name, url, via in (
            ("Worker fetch", dev.info["worker"], None),
            ("handler via explicit proxy", "http://anywhere.test/", proxy),
        ):
            answered, failed = await load(url, options.seconds, options.connections, via)
            baseline = answered / options.seconds
            print(f"{name:28}{'none':>12}{0:9}{baseline:8.0f}{failed:8}{1:11.2f}")
            for every in intervals:
                await asyncio.sleep(2)  # the spares are warm again
                stop = asyncio.Event()
                saver = asyncio.create_task(saving(dev, every, stop))
                answered, failed = await load(url, options.seconds, options.connections, via)
                stop.set()
                saves = await saver
                rate = answered / options.seconds
                print(f"{'':28}{f'every {every:g} s':>12}{saves:9}{rate:8.0f}{failed:8}{rate / baseline:11.2f}")

        count, gap = options.storm.split("x")
        if int(count):
            print()
            settled = time.monotonic() + 10
            while Footprint.of(dev.process.pid).workers > 4 and time.monotonic() < settled:  # 2 serving, 2 spare
                await asyncio.sleep(0.1)  # the versions the rows above replaced stop
            await storm(dev, int(count), float(gap), options.connections)
    finally:
        dev.process.send_signal(2)
        await dev.process.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
