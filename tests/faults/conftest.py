"""Fault-containment fixtures: a real `outbound dev` with small limits (limited_dev.py) serving
fixtures/handlers/faults through its explicit proxy, sandboxes that talk to it directly (no `outbound run`, so
a test can cut a connection where it likes), and an upstream that misbehaves at the socket level."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.conftest import ROOT, DevServer, traversable_folder
from tests.support.upstream import LocalInternet

FAULTS = ROOT / "fixtures" / "handlers" / "faults"
BROKEN_NAME = "broken.test"  # resolves (through --connect-to) to BrokenUpstream


class BrokenUpstream:
    """An HTTP server that fails below HTTP, chosen by the request path:

    /malformed   answers bytes that are not HTTP
    /reset       promises 100000 bytes, sends 10, then resets the connection (RST, not FIN)
    /stall       promises 100000 bytes, sends 10, then sends nothing more while the connection stays open
    """

    def __init__(self) -> None:
        self.port = 0
        self.open_stalls = 0  # stalled connections the other side has not closed yet
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> BrokenUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        path = head.split(b" ", 2)[1].decode()
        promise = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 10
        if path.startswith("/malformed"):
            writer.write(b"THIS IS NOT HTTP\x00\x01\r\n\r\n")
            await writer.drain()
            writer.close()
        elif path.startswith("/reset"):
            writer.write(promise)
            await writer.drain()
            await asyncio.sleep(0.1)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:  # /stall
            writer.write(promise)
            await writer.drain()
            self.open_stalls += 1
            try:
                await reader.read()  # until the other side closes
            except ConnectionError:
                pass
            finally:
                self.open_stalls -= 1
                writer.close()


@dataclass
class SandboxClient:
    """A sandbox speaking to the explicit proxy with its own credentials, as its HTTP_PROXY says."""

    name: str
    proxy: str  # http://ID:TOKEN@127.0.0.1:PORT
    port: int = field(init=False)
    authorization: str = field(init=False)

    def __post_init__(self) -> None:
        credentials, address = self.proxy.removeprefix("http://").rsplit("@", 1)
        self.port = int(address.rsplit(":", 1)[1])
        self.authorization = "Basic " + base64.b64encode(credentials.encode()).decode()

    async def get(self, url: str, timeout: float = 10) -> tuple[int, bytes]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, proxy=self.proxy) as response,
        ):
            return response.status, await response.read()

    async def connect(
        self, method: str, url: str, headers: dict[str, str] | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A raw connection to the proxy with the request head sent; the caller sends the body, or not."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        host = url.split("/", 3)[2]
        lines = [f"{method} {url} HTTP/1.1", f"Host: {host}", f"Proxy-Authorization: {self.authorization}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        return reader, writer


class FaultsDev(DevServer):
    module = "tests.faults.limited_dev"

    async def sandbox(self, name: str, cls: str, handler: str | None = None) -> SandboxClient:
        async with self.remote() as remote:
            await remote.create_sandbox(name, cls)
            if handler is not None:
                await remote.sandbox(name).set_outbound_handler(handler)
            info = await remote.sandbox(name).launch_info()
        return SandboxClient(name, info["env"]["HTTP_PROXY"])

    async def records(self, sandbox: str, count: int, timeout: float = 10) -> list[dict[str, object]]:
        """``sandbox``'s audit records once there are ``count`` of them (from <state>/audit.jsonl)."""
        path = self.state / "audit.jsonl"
        deadline = time.monotonic() + timeout
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            found = [record for line in lines if (record := json.loads(line))["sandbox"] == sandbox]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) == count, found
                return found
            await asyncio.sleep(0.02)

    def rss_mib(self) -> float:
        """The emulator process's resident memory (its JS workers are separate processes)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        return kib / 1024

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children if b"emulator.runtime.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()]


@pytest.fixture(scope="package")
async def broken() -> AsyncIterator[BrokenUpstream]:
    async with BrokenUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="package")
async def faults_internet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalInternet]:
    async with LocalInternet(tmp_path_factory.mktemp("internet")) as local:
        yield local


@pytest.fixture(scope="package")
async def dev(faults_internet: LocalInternet, broken: BrokenUpstream) -> AsyncIterator[FaultsDev]:
    faults_internet.connect_to[BROKEN_NAME] = f"127.0.0.1:{broken.port}"
    server = FaultsDev(FAULTS, traversable_folder("faults"), faults_internet, "explicit")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Healthy:
    """A second sandbox asking a normal handler for an answer, over and over, while a test does harm."""

    def __init__(self, client: SandboxClient) -> None:
        self.client = client
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            try:
                status, body = await self.client.get("http://anywhere.test/healthy", timeout=5)
                self.statuses.append(status if body == b"fine" else -status)
                if body != b"fine":
                    self.failures.append(f"{status} {body!r}")
            except (aiohttp.ClientError, TimeoutError) as error:
                self.statuses.append(0)
                self.failures.append(repr(error))
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> Healthy:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"healthy {self.client.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.fixture
async def healthy(dev: FaultsDev, request: pytest.FixtureRequest) -> AsyncIterator[Healthy]:
    client = await dev.sandbox(f"healthy-{request.node.name[:40]}", "Faulty", "fine")
    async with Healthy(client) as running:
        yield running
