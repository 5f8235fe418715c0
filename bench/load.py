"""Load and soak: many sandboxes holding many keep-alive connections through a JS handler, against plain mitmproxy.

    .venv/bin/python bench/load.py [--sandboxes 50] [--connections 1000] [--seconds 60] [--https] [--clients 2]
    .venv/bin/python bench/load.py --soak [--seconds 1800] [--every 60]

One upstream (bench/_upstream.py, in this process), the same proxies bench/proxy.py starts, and a load client in
--clients separate processes (asyncio, raw HTTP/1.1 keep-alive; HTTPS through CONNECT), so the client does not
share a core's event loop with what it measures:

    mitmproxy   mitmdump with no addon of ours (the baseline), every connection as if from one client
    emulator    `outbound dev` (explicit capture): --sandboxes sandboxes, each with its own proxy credentials (and
                CA), the --connections connections spread over them; each request runs bench/proxy's `inject`
                handler (sets a header, fetch()es the upstream)

Every connection is opened and used once before the clock starts (mitmproxy accepts a few hundred connections
a second; a burst beyond its accept queue would time SYN retries), then all of them send requests back to back
for --seconds. Printed per proxy: requests/s, p50 and p99 latency, errors, the RSS of the proxy with all its
child processes (the emulator's JS workers) at start, peak and end (sampled every 0.5 s), the CPU the proxy and
the client used; then the emulator's figures as ratios to mitmproxy's. Exits 1 if any request failed.

--soak runs the emulator alone for --seconds (default 30 minutes) and prints its RSS and requests/s every --every
seconds (default 60): memory that climbs minute after minute is a leak.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
import resource
import signal
import ssl
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

from _upstream import start_upstream
from proxy import HOST, control, make_tls, start_emulator, start_mitmdump

SAMPLE_S = 0.5
OPEN_BATCH = 25  # connections a client opens at once while warming up
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


# -- the load client (runs in its own processes) ---------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """How one connection reaches the upstream: through which proxy, as which sandbox."""

    scheme: str
    proxy_port: int
    host: str  # what the requests name
    port: int
    auth: str | None  # Proxy-Authorization value, or None
    trust: str | None  # CA file for the TLS the client sees (HTTPS)


@dataclass
class ClientResult:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0


class _Connection:
    def __init__(self, route: Route, contexts: dict[str, ssl.SSLContext]) -> None:
        self.route = route
        self._contexts = contexts
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        auth = f"Proxy-Authorization: {route.auth}\r\n" if route.auth else ""
        if route.scheme == "http":
            target = f"http://{route.host}:{route.port}/" if route.port != 80 else f"http://{route.host}/"
            self._request = f"GET {target} HTTP/1.1\r\nHost: {route.host}\r\n{auth}\r\n".encode()
        else:
            self._request = f"GET / HTTP/1.1\r\nHost: {route.host}\r\n\r\n".encode()
        self._connect = f"CONNECT {route.host}:{route.port} HTTP/1.1\r\nHost: {route.host}:{route.port}\r\n{auth}\r\n"

    async def open(self) -> None:
        route = self.route
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", route.proxy_port)
        if route.scheme == "https":
            assert route.trust is not None
            self.writer.write(self._connect.encode())
            head = await self.reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(f"CONNECT refused: {head[:200]!r}")
            context = self._contexts.get(route.trust)
            if context is None:
                context = self._contexts[route.trust] = ssl.create_default_context(cafile=route.trust)
            await self.writer.start_tls(context, server_hostname=route.host)

    async def request(self) -> None:
        assert self.reader is not None and self.writer is not None
        self.writer.write(self._request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        if head[9:12] != b"200":
            raise RuntimeError(f"{head.split(b' ', 2)[1].decode()}: {body[:200]!r}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _client(
    routes: list[Route],
    ready: multiprocessing.synchronize.Semaphore,
    go: multiprocessing.synchronize.Event,
    seconds: float,
    done: Synchronized[int],
) -> ClientResult:
    result = ClientResult()
    contexts: dict[str, ssl.SSLContext] = {}
    connections = [_Connection(route, contexts) for route in routes]
    for start in range(0, len(connections), OPEN_BATCH):  # warm: open, and one request on each
        batch = connections[start : start + OPEN_BATCH]
        await asyncio.gather(*(c.open() for c in batch))
        await asyncio.gather(*(c.request() for c in batch))
    ready.release()
    while not go.is_set():
        await asyncio.sleep(0.005)
    deadline = time.perf_counter() + seconds
    counted = 0

    async def loop(connection: _Connection) -> None:
        nonlocal counted
        latencies = result.latencies
        while (started := time.perf_counter()) < deadline:
            try:
                await connection.request()
            except (OSError, RuntimeError, asyncio.IncompleteReadError, ValueError) as error:
                result.errors.append(f"{type(error).__name__}: {error}")
                connection.close()
                with contextlib.suppress(OSError, RuntimeError, asyncio.IncompleteReadError):
                    await connection.open()
                continue
            latencies.append(time.perf_counter() - started)
            counted += 1

    async def report() -> None:  # for --soak's progress lines
        nonlocal counted
        while True:
            await asyncio.sleep(1)
            with done.get_lock():
                done.value += counted
            result.requests += counted
            counted = 0

    reporter = asyncio.create_task(report(), name="load-report")
    await asyncio.gather(*(loop(c) for c in connections))
    reporter.cancel()
    with done.get_lock():
        done.value += counted
    result.requests += counted
    for connection in connections:
        connection.close()
    return result


def client_process(
    routes: list[Route],
    ready: multiprocessing.synchronize.Semaphore,
    go: multiprocessing.synchronize.Event,
    seconds: float,
    done: Synchronized[int],
    results: multiprocessing.Queue[ClientResult],
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(_client(routes, ready, go, seconds, done))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = usage.ru_utime + usage.ru_stime
    result.errors = result.errors[:20] + ([f"… and {len(result.errors) - 20} more"] if len(result.errors) > 20 else [])
    results.put(result)


# -- measuring the proxy ----------------------------------------------------------------------------------------
def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                stack.extend(int(child) for child in children)
    return found


def rss_mib(pid: int, children: bool = True) -> float:
    """Resident memory of ``pid`` and (``children``) its child processes (the emulator's JS workers)."""
    total = 0
    for member in tree(pid) if children else [pid]:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * _PAGE
    return total / 2**20


def cpu_s(pid: int) -> float:
    total = 0.0
    for member in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


@dataclass
class Figures:
    name: str
    seconds: float
    requests: int
    errors: list[str]
    p50_ms: float
    p99_ms: float
    rss_start: float  # the proxy and its children (JS workers, spares)
    rss_peak: float
    rss_end: float
    main_rss: tuple[float, float, float]  # the proxy process alone: start, peak, end
    proxy_cpu: float  # cores used, on average
    client_cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


class Sampler:
    """RSS of a process tree every SAMPLE_S, and a line every ``every`` seconds when asked (--soak)."""

    def __init__(self, pid: int, done: Synchronized[int] | None = None, every: float | None = None) -> None:
        self.pid = pid
        self.peak = self.main_peak = 0.0
        self._done = done
        self._every = every
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        started = last_line = time.monotonic()
        last_done = 0
        while True:
            await asyncio.sleep(SAMPLE_S)
            now, rss, main = time.monotonic(), rss_mib(self.pid), rss_mib(self.pid, children=False)
            self.peak, self.main_peak = max(self.peak, rss), max(self.main_peak, main)
            if self._every is not None and self._done is not None and now - last_line >= self._every:
                done = self._done.value
                print(
                    f"{(now - started) / 60:6.1f} min  RSS {rss:7.1f} MiB (peak {self.peak:7.1f}; the proxy "
                    f"process alone {main:6.1f})  "
                    f"{(done - last_done) / (now - last_line):7.0f} req/s",
                    flush=True,
                )
                last_line, last_done = now, done

    def __enter__(self) -> Sampler:
        self.peak, self.main_peak = rss_mib(self.pid), rss_mib(self.pid, children=False)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="load-sampler")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def run_load(
    name: str, pid: int, routes: list[Route], seconds: float, clients: int, every: float | None = None
) -> Figures:
    context = multiprocessing.get_context("spawn")
    ready, go = context.Semaphore(0), context.Event()
    done: Synchronized[int] = context.Value("q", 0)  # type: ignore[assignment]
    results: multiprocessing.Queue[ClientResult] = context.Queue()
    shares = [routes[n::clients] for n in range(clients)]
    processes = [
        context.Process(
            target=client_process,
            args=(share, ready, go, seconds, done, results),
            name=f"load-client-{n}",
        )
        for n, share in enumerate(shares)
    ]
    rss_start, main_start = rss_mib(pid), rss_mib(pid, children=False)
    loop = asyncio.get_running_loop()
    with Sampler(pid, done, every) as sampler:
        for process in processes:
            process.start()
        for _ in processes:  # every connection open and used once
            await loop.run_in_executor(None, ready.acquire)
        cpu_before, started = cpu_s(pid), time.monotonic()
        go.set()
        collected = [await loop.run_in_executor(None, results.get) for _ in processes]
        elapsed = time.monotonic() - started
        proxy_cpu = (cpu_s(pid) - cpu_before) / elapsed
        for process in processes:
            await loop.run_in_executor(None, process.join)
        await asyncio.sleep(2)  # the proxy lets the closed connections go
        rss_end, main_end = rss_mib(pid), rss_mib(pid, children=False)
        peak, main_peak = sampler.peak, sampler.main_peak
    latencies = sorted(latency for result in collected for latency in result.latencies)
    return Figures(
        name=name,
        seconds=seconds,
        requests=sum(result.requests for result in collected),
        errors=[error for result in collected for error in result.errors],
        p50_ms=statistics.median(latencies) * 1000 if latencies else float("nan"),
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
        rss_start=rss_start,
        rss_peak=max(peak, rss_end),
        rss_end=rss_end,
        main_rss=(main_start, max(main_peak, main_end), main_end),
        proxy_cpu=proxy_cpu,
        client_cpu=sum(result.cpu_s for result in collected) / elapsed,
    )


# -- setting up ---------------------------------------------------------------------------------------------------
async def emulator_routes(
    info: dict[str, str], folder: Path, sandboxes: int, connections: int, scheme: str
) -> list[Route]:
    """Create the sandboxes (each with the `inject` handler) and spread the connections over them."""
    proxy_port = int(info["explicitProxy"].rsplit(":", 1)[1])
    per_sandbox: list[tuple[str, str | None]] = []
    for n in range(sandboxes):
        name = f"load-{n}"
        await control(info, "POST", "/v1/sandboxes", {"id": name, "class": "Bench"})
        await control(
            info, "POST", f"/v1/sandboxes/{name}/policy", {"method": "setOutboundHandler", "args": ["inject"]}
        )
        launch = await control(info, "GET", f"/v1/sandboxes/{name}/launch")
        assert isinstance(launch, dict)
        credentials = launch["env"]["HTTP_PROXY"].split("//", 1)[1].rsplit("@", 1)[0]
        auth = "Basic " + base64.b64encode(credentials.encode()).decode()
        trust = None
        if scheme == "https":
            ca = await control(info, "GET", f"/v1/sandboxes/{name}/ca")
            assert isinstance(ca, bytes)
            trust = folder / f"{name}-ca.pem"
            trust.write_bytes(ca)
        per_sandbox.append((auth, str(trust) if trust else None))
    port = 80 if scheme == "http" else 443
    return [
        Route(scheme, proxy_port, HOST, port, auth, trust)
        for auth, trust in (per_sandbox[n % sandboxes] for n in range(connections))
    ]


def mitmproxy_routes(proxy_port: int, upstream_port: int, ca: Path, connections: int, scheme: str) -> list[Route]:
    # mitmproxy dials what the request names: the upstream's own port on 127.0.0.1 (as bench/proxy.py does)
    return [Route(scheme, proxy_port, "127.0.0.1", upstream_port, None, str(ca)) for _ in range(connections)]


def print_figures(rows: list[Figures], clients: int) -> None:
    print(
        f"{'proxy':11}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'RSS start':>11}{'peak':>8}{'end MiB':>9}{'proxy CPU':>11}{'client CPU':>12}"
    )
    for row in rows:
        print(
            f"{row.name:11}{row.rate:8.0f}{row.p50_ms:9.1f}{row.p99_ms:9.1f}{len(row.errors):8d}"
            f"{row.rss_start:11.0f}{row.rss_peak:8.0f}{row.rss_end:9.0f}"
            f"{row.proxy_cpu:10.2f}c{row.client_cpu:10.2f}c/{clients}"
        )
    for row in rows:
        if row.rss_start - row.main_rss[0] > 1:
            start, peak, end = row.main_rss
            print(f"{row.name} process alone (no JS workers): RSS {start:.0f} → peak {peak:.0f} → end {end:.0f} MiB")
    if len(rows) == 2:
        base, ours = rows
        print(
            f"emulator ÷ mitmproxy: req/s × {ours.rate / base.rate:.2f}, p50 × {ours.p50_ms / base.p50_ms:.2f}, "
            f"p99 × {ours.p99_ms / base.p99_ms:.2f}, peak RSS × {ours.rss_peak / base.rss_peak:.2f}, "
            f"CPU per request × {(ours.proxy_cpu / ours.rate) / (base.proxy_cpu / base.rate):.2f}"
        )
    for row in rows:
        for error in row.errors[:10]:
            print(f"{row.name} error: {error}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sandboxes", type=int, default=50)
    parser.add_argument("--connections", type=int, default=1000, help="keep-alive connections in all")
    parser.add_argument("--seconds", type=float, help="how long the load runs (default 60; --soak: 1800)")
    parser.add_argument("--https", action="store_true", help="HTTPS through CONNECT instead of plain HTTP")
    parser.add_argument("--clients", type=int, default=2, help="load client processes")
    parser.add_argument("--soak", action="store_true", help="the emulator alone, a line of RSS and req/s --every s")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between --soak's lines")
    options = parser.parse_args()
    seconds = options.seconds or (1800.0 if options.soak else 60.0)
    scheme = "https" if options.https else "http"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the upstream holds a connection per connection too

    folder = Path(tempfile.mkdtemp(prefix="outbound-bench-load-"))
    tls, upstream_ca = make_tls(folder)
    runner, (http_port, https_port) = await start_upstream(None, tls)
    upstream_port = http_port if scheme == "http" else https_port
    rows: list[Figures] = []
    print(
        f"{options.connections} keep-alive {scheme.upper()} connections from {options.sandboxes} sandboxes for "
        f"{seconds:g} s, {options.clients} client processes, {os.cpu_count()} cores; load average "
        f"{os.getloadavg()[0]:.1f} before starting",
        flush=True,
    )
    try:
        if not options.soak:
            mitm, mitm_port, mitm_ca = await start_mitmdump(folder, upstream_ca)
            try:
                routes = mitmproxy_routes(mitm_port, upstream_port, mitm_ca, options.connections, scheme)
                rows.append(await run_load("mitmproxy", mitm.pid, routes, seconds, options.clients))
            finally:
                mitm.terminate()
                await mitm.wait()
        emulator, info = await start_emulator(folder / "state", http_port, https_port, upstream_ca)
        try:
            routes = await emulator_routes(info, folder, options.sandboxes, options.connections, scheme)
            every = options.every if options.soak else None
            rows.append(await run_load("emulator", emulator.pid, routes, seconds, options.clients, every))
        finally:
            emulator.send_signal(signal.SIGINT)
            await emulator.wait()
    finally:
        await runner.cleanup()
    print_figures(rows, options.clients)
    if any(row.errors for row in rows):
        print("FAILED: some requests failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
