"""A sandbox that hangs up mid-upload or mid-download of a large body: the emulator stops the transfer (the
upstream stops sending), keeps serving, and holds no more memory after many such hang-ups than after one.

Whole large bodies that complete are tests/e2e/test_bodies.py's (streaming, no buffering); a client going away
from a dripping download is tests/e2e/test_audit.py's. Here the client cuts the connection itself."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.conftest import FaultsDev, SandboxClient
from tests.support.upstream import LocalInternet

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
ROUNDS = 6
DOWNLOAD = 256 * MIB  # far more than is ever read: the emulator must not fetch it all
UPLOAD = 256 * MIB  # announced; only SENT of it is sent
SENT = 8 * MIB


async def hang_up_mid_download(client: SandboxClient, tag: str) -> int:
    reader, writer = await client.connect("GET", f"http://upstream.test/bytes/{DOWNLOAD}?tag={tag}")
    received = 0
    while received < 4 * MIB:
        chunk = await asyncio.wait_for(reader.read(MIB), 10)
        assert chunk, "the download ended early"
        received += len(chunk)
    writer.transport.abort()
    return received


async def hang_up_mid_upload(client: SandboxClient) -> None:
    headers = {"Content-Length": str(UPLOAD), "Content-Type": "application/octet-stream"}
    _, writer = await client.connect("POST", "http://upstream.test/sink", headers)
    block = b"u" * MIB
    for _ in range(SENT // MIB):
        writer.write(block)
        await writer.drain()
    writer.transport.abort()


async def written_settles(internet: LocalInternet, tag: str) -> int:
    """How much the upstream wrote for ``tag`` once it stopped writing."""
    last, deadline = -1, time.monotonic() + 10
    while (now := internet.recorder.written.get(tag, 0)) != last and time.monotonic() < deadline:
        last = now
        await asyncio.sleep(0.3)
    return now


async def serves(client: SandboxClient) -> None:
    status, _ = await client.get("http://upstream.test/echo")
    assert status == 200


@pytest.mark.parametrize(("cls", "handler"), [("Passing", None), ("Faulty", "forward")], ids=["passthrough", "fetch"])
async def test_hanging_up_mid_download_stops_the_upstream(
    dev: FaultsDev, faults_internet: LocalInternet, cls: str, handler: str | None
) -> None:
    client = await dev.sandbox(f"client-down-{cls}", cls, handler)
    sizes = []
    for n in range(ROUNDS):
        tag = f"down-{cls}-{n}"
        await hang_up_mid_download(client, tag)
        sizes.append(await written_settles(faults_internet, tag))
        if n == 0:
            baseline = dev.rss_mib()
        await serves(client)
    assert max(sizes) < DOWNLOAD / 8, sizes  # the upstream was stopped, not drained
    assert dev.rss_mib() - baseline < 48, "memory grew with each abandoned download"


async def test_hanging_up_mid_upload_is_recorded_and_costs_nothing(dev: FaultsDev) -> None:
    client = await dev.sandbox("client-up", "Passing")
    for n in range(ROUNDS):
        await hang_up_mid_upload(client)
        if n == 0:
            baseline = dev.rss_mib()
        await serves(client)
    uploads = [record for record in await dev.records("client-up", 2 * ROUNDS) if record["method"] == "POST"]
    assert len(uploads) == ROUNDS
    for record in uploads:  # an abort drops what the client had not sent yet: up to its socket buffer short
        assert record["status"] is None and SENT - MIB < int(str(record["request_bytes"])) <= SENT, record
        assert str(record["error"]).startswith(
            "HTTP/1 protocol error: peer closed connection without sending complete message body (received "
        ), record
    assert dev.rss_mib() - baseline < 48, "memory grew with each abandoned upload"
