"""Proxy throughput and latency: direct, plain mitmproxy, and the emulator (passthrough and a JS handler).

    .venv/bin/python bench/proxy.py [--seconds 5] [--connections 16] [--sequential 1000] [--sandboxes 200]

One run, one upstream (aiohttp on 127.0.0.1, HTTP and HTTPS). Every proxy is used as an explicit proxy by the
same load client (keep-alive HTTP/1.1; HTTPS through CONNECT), so the figures compare like with like:

    direct            the client talks to the upstream itself
    mitmproxy         mitmdump with no addon of ours, TLS interception with its own CA (the baseline)
    mitmproxy-lean    mitmproxy with only the five of its default addons the emulator loads
    passthrough       `outbound dev`: decided with no JS, forwarded by mitmproxy
    js-inject         `outbound dev`: a JS handler sets a header and fetch()es the upstream

Printed per path and scheme: median and p99 latency of sequential requests on one connection, requests/s with
--connections connections for --seconds, and the ratio to plain mitmproxy. Then: the time to create a
sandbox's CA, and the per-request latency before and after --sandboxes sandboxes exist.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import socket
import ssl
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from _upstream import create_throwaway_ca, start_upstream

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Path(__file__).parent / "proxy"
HOST = "upstream.bench"


# -- the upstream ------------------------------------------------------------------------------------------


def make_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A CA and a leaf for HOST (and 127.0.0.1); returns the server context and the CA file."""
    ca = create_throwaway_ca("bench CA")
    return ca.issue_leaf(HOST, "127.0.0.1").server_context(), ca.write_pem(folder / "bench-ca.pem")


# -- the load client ---------------------------------------------------------------------------------------


@dataclass
class Target:
    scheme: str
    host: str  # what the request names
    port: int
    proxy: tuple[str, int] | None = None
    proxy_auth: str | None = None
    trust: Path | None = None  # CA file for the TLS the client sees


class Connection:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        t = self.target
        auth = (
            f"Proxy-Authorization: Basic {base64.b64encode(t.proxy_auth.encode()).decode()}\r\n" if t.proxy_auth else ""
        )
        address = t.proxy or (t.host if t.proxy is None and t.host != HOST else "127.0.0.1", t.port)
        self.reader, self.writer = await asyncio.open_connection(*address)
        if t.scheme == "https":
            if t.proxy is not None:
                self.writer.write(
                    f"CONNECT {t.host}:{t.port} HTTP/1.1\r\nHost: {t.host}:{t.port}\r\n{auth}\r\n".encode()
                )
                head = await self.reader.readuntil(b"\r\n\r\n")
                assert b" 200 " in head.split(b"\r\n")[0], head
            context = ssl.create_default_context(cafile=str(t.trust))
            await self.writer.start_tls(context, server_hostname=t.host)
        self._auth = auth if t.scheme == "http" else ""

    async def request(self) -> None:
        assert self.reader is not None and self.writer is not None
        t = self.target
        target = f"http://{t.host}:{t.port}/" if (t.scheme == "http" and t.proxy) else "/"
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {t.host}\r\n{self._auth}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        body = await self.reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"{self.target}: unexpected status {status!r}: {head!r}{body!r}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def measure(target: Target, sequential: int, seconds: float, connections: int) -> tuple[float, float, float]:
    one = Connection(target)
    await one.open()
    for _ in range(50):
        await one.request()
    samples = []
    for _ in range(sequential):
        started = time.perf_counter()
        await one.request()
        samples.append(time.perf_counter() - started)
    one.close()
    samples.sort()
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        connection = Connection(target)
        await connection.open()
        while time.perf_counter() < deadline:
            await connection.request()
            done += 1
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(connections)))
    return (
        statistics.median(samples) * 1e6,
        samples[int(len(samples) * 0.99) - 1] * 1e6,
        done / (time.perf_counter() - started),
    )


# -- the proxies -------------------------------------------------------------------------------------------


async def start_mitmdump(folder: Path, upstream_ca: Path) -> tuple[asyncio.subprocess.Process, int, Path]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("mitmdump")),
        "-q",
        "--listen-host",
        "127.0.0.1",
        "-p",
        str(port),
        "--set",
        f"confdir={folder / 'mitmproxy'}",
        "--set",
        "connection_strategy=lazy",
        "--set",
        f"ssl_verify_upstream_trusted_ca={upstream_ca}",
        "--set",
        "stream_large_bodies=1m",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await _wait_port(port)
    return process, port, folder / "mitmproxy" / "mitmproxy-ca-cert.pem"


LEAN = """
import asyncio, sys
from mitmproxy import options
from mitmproxy.master import Master
from emulator.server import mitmproxy_addons

async def main() -> None:
    opts = options.Options(mode=[f"regular@127.0.0.1:{sys.argv[1]}"], confdir=sys.argv[2])
    master = Master(opts)
    master.addons.add(*mitmproxy_addons())
    opts.update(connection_strategy="lazy", stream_large_bodies="1m", ssl_verify_upstream_trusted_ca=sys.argv[3])
    await master.run()

asyncio.run(main())
"""


async def start_lean(folder: Path, upstream_ca: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LEAN,
        str(port),
        str(folder / "mitmproxy"),
        str(upstream_ca),
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await _wait_port(port)
    return process, port


async def start_emulator(
    folder: Path, http_port: int, https_port: int, upstream_ca: Path
) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        "dev",
        str(PROJECT),
        "--capture",
        "explicit",
        "--persist-to",
        str(folder),
        "--connect-to",
        f"{HOST}:80:127.0.0.1:{http_port}",
        "--connect-to",
        f"{HOST}:443:127.0.0.1:{https_port}",
        "--cacert",
        str(upstream_ca),
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(1200):  # 60 s: a loaded machine (bench/load.py runs it after a flood) boots workers slowly
        if (folder / "dev.json").exists():
            return process, json.loads((folder / "dev.json").read_text())
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    raise RuntimeError(f"outbound dev did not start (exit status {process.returncode})")


async def control(info: dict[str, str], method: str, path: str, body: object = None) -> object:
    headers = {"authorization": f"Bearer {info['token']}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.request(method, f"{info['control']}{path}", json=body) as response,
    ):
        if response.content_type == "application/json":
            return await response.json()
        return await response.read()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_port(port: int) -> None:
    for _ in range(400):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError(f"nothing listens on {port}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--sandboxes", type=int, default=200)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="outbound-bench-proxy-"))
    tls, upstream_ca = make_tls(folder)
    runner, (http_port, https_port) = await start_upstream(None, tls)
    mitm, mitm_port, mitm_ca = await start_mitmdump(folder, upstream_ca)
    lean, lean_port = await start_lean(folder, upstream_ca)  # same confdir, so the same CA as mitmdump
    emulator, info = await start_emulator(folder / "state", http_port, https_port, upstream_ca)
    proxy = ("127.0.0.1", int(info["explicitProxy"].rsplit(":", 1)[1]))
    try:
        sandboxes = {}
        for name, handler in (("bench-pass", None), ("bench-js", "inject")):
            await control(info, "POST", "/v1/sandboxes", {"id": name, "class": "Bench"})
            if handler:
                await control(
                    info, "POST", f"/v1/sandboxes/{name}/policy", {"method": "setOutboundHandler", "args": [handler]}
                )
            launch = await control(info, "GET", f"/v1/sandboxes/{name}/launch")
            assert isinstance(launch, dict)
            sandboxes[name] = launch["env"]["HTTP_PROXY"].split("//", 1)[1].rsplit("@", 1)[0]
        ca_file = folder / "sandbox-ca.pem"
        ca_file.write_bytes(await control(info, "GET", "/v1/sandboxes/bench-js/ca"))  # type: ignore[arg-type]
        ca_pass = folder / "sandbox-pass-ca.pem"
        ca_pass.write_bytes(await control(info, "GET", "/v1/sandboxes/bench-pass/ca"))  # type: ignore[arg-type]

        rows: list[tuple[str, str, float, float, float]] = []
        for scheme, upstream_port in (("http", http_port), ("https", https_port)):
            port = 80 if scheme == "http" else 443
            targets = {
                "direct": Target(scheme, "127.0.0.1" if scheme == "http" else HOST, upstream_port, trust=upstream_ca),
                "mitmproxy": Target(
                    scheme,
                    "127.0.0.1" if scheme == "http" else HOST,
                    upstream_port,
                    proxy=("127.0.0.1", mitm_port),
                    trust=mitm_ca,
                ),
                "mitmproxy-lean": Target(
                    scheme,
                    "127.0.0.1" if scheme == "http" else HOST,
                    upstream_port,
                    proxy=("127.0.0.1", lean_port),
                    trust=mitm_ca,
                ),
                "passthrough": Target(
                    scheme, HOST, port, proxy=proxy, proxy_auth=sandboxes["bench-pass"], trust=ca_pass
                ),
                "js-inject": Target(scheme, HOST, port, proxy=proxy, proxy_auth=sandboxes["bench-js"], trust=ca_file),
            }
            if scheme == "https":
                # Direct HTTPS goes to 127.0.0.1 with SNI HOST; mitmproxy connects to 127.0.0.1 and checks HOST.
                targets["direct"] = Target(scheme, HOST, upstream_port, trust=upstream_ca)
                targets["mitmproxy"] = Target(
                    scheme, "127.0.0.1", upstream_port, proxy=("127.0.0.1", mitm_port), trust=mitm_ca
                )
                targets["mitmproxy-lean"] = Target(
                    scheme, "127.0.0.1", upstream_port, proxy=("127.0.0.1", lean_port), trust=mitm_ca
                )
            for name, target in targets.items():
                median, p99, rate = await measure(target, options.sequential, options.seconds, options.connections)
                rows.append((scheme, name, median, p99, rate))

        print(
            f"{options.sequential} sequential requests, then {options.connections} keep-alive connections for "
            f"{options.seconds:g} s, per row"
        )
        print(f"{'scheme':7}{'path':16}{'median µs':>11}{'p99 µs':>10}{'req/s':>9}{'× mitmproxy':>13}")
        baseline = {scheme: rate for scheme, name, _, _, rate in rows if name == "mitmproxy"}
        for scheme, name, median, p99, rate in rows:
            print(f"{scheme:7}{name:16}{median:11.0f}{p99:10.0f}{rate:9.0f}{rate / baseline[scheme]:13.2f}")

        from emulator.ca import SandboxCA  # noqa: PLC0415

        started = time.perf_counter()
        for i in range(100):
            SandboxCA.create(f"ca-{i}").leaf(HOST)
        per_ca = (time.perf_counter() - started) / 100 * 1000
        started = time.perf_counter()
        await control(info, "POST", "/v1/sandboxes", {"id": "bench-new", "class": "Bench"})
        prepare = (time.perf_counter() - started) * 1000
        print(
            f"a sandbox's CA and first leaf: {per_ca:.2f} ms; a new sandbox through the control API: {prepare:.1f} ms"
        )

        js_http = Target("http", HOST, 80, proxy=proxy, proxy_auth=sandboxes["bench-js"])
        before, _, _ = await measure(js_http, options.sequential, 0.01, 1)
        for i in range(options.sandboxes):
            await control(info, "POST", "/v1/sandboxes", {"id": f"many-{i}", "class": "Bench"})
        after, _, _ = await measure(js_http, options.sequential, 0.01, 1)
        print(
            f"JS-answered median with 3 sandboxes: {before:.0f} µs; with {options.sandboxes + 3}: {after:.0f} µs "
            f"(× {after / before:.2f})"
        )
    finally:
        emulator.send_signal(signal.SIGINT)
        await emulator.wait()
        for process in (mitm, lean):
            process.terminate()
            await process.wait()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
