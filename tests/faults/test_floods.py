"""Connection floods: 10,000 idle connections, headers sent a byte at a time (slowloris), and a body trickled to a
handler. Each is contained (addons/deadlines.py): the emulator keeps serving another sandbox at normal latency,
holds a bounded amount per connection and gives it back, and closes a slow client with a 408 saying why, logged
and (when the connection is a sandbox's) audited.

limited_dev.py runs the emulator with a 2 s head deadline, so a slowloris costs a test seconds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import ssl
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from emulator.addons.deadlines import HEAD_TIMEOUT_STEP, body_timeout_text, head_timeout_text
from tests.e2e.conftest import traversable_folder
from tests.faults.conftest import FAULTS, FaultsDev, Healthy, SandboxClient
from tests.faults.limited_dev import FAULT_CONNECTION_LIMITS
from tests.support.upstream import LocalInternet

pytestmark = pytest.mark.e2e

IDLE = 10_000
PARTIAL_EVERY = 10  # one connection in ten sends half a request head, then nothing
TYPICAL_SOFT_LIMIT = 1024  # the soft RLIMIT_NOFILE most Linux sessions start with
HEAD_408 = head_timeout_text(FAULT_CONNECTION_LIMITS).encode()
BODY_408 = body_timeout_text(FAULT_CONNECTION_LIMITS).encode()


# -- helpers -------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def descriptor_limit(soft: int) -> Iterator[None]:
    """This process's soft limit on open files set to ``soft`` meanwhile (children started now inherit it)."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def listen_queue(port: int) -> int:
    """Connections waiting in the kernel for 127.0.0.1:``port``'s accept() (/proc/net/tcp, listening rows)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            return int(fields[4].split(":")[1], 16)
    return 0


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def latencies(client: SandboxClient, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        status, body = await client.get("http://anywhere.test/healthy", timeout=10)
        samples.append(time.perf_counter() - started)
        assert (status, body) == (200, b"fine")
    return samples


async def open_idle(
    port: int, count: int, partial_every: int
) -> tuple[list[asyncio.StreamWriter], list[asyncio.StreamReader]]:
    """``count`` connections to the proxy; every ``partial_every``-th sends half a request head. Opened a hundred
    at a time, waiting while the proxy's accept queue is long: a full queue drops SYNs and the client retries a
    second later, which would time the kernel rather than the emulator. Returns the writers and the partial
    connections' readers."""
    writers: list[asyncio.StreamWriter] = []
    partial: list[asyncio.StreamReader] = []

    async def one(n: int) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 15)
        except TimeoutError:
            raise AssertionError(
                f"connection {n + 1} was not accepted within 15 s: the emulator stopped accepting (out of descriptors?)"
            ) from None
        writers.append(writer)
        if n % partial_every == 0:
            writer.write(b"GET http://anywhere.test/ HTTP/1.1\r\nHost: anywh")
            partial.append(reader)

    for start in range(0, count, 100):
        await asyncio.gather(*(one(n) for n in range(start, min(start + 100, count))))
        waiting_since = time.monotonic()
        while listen_queue(port) > 50:
            assert time.monotonic() - waiting_since < 15, (
                f"the emulator stopped accepting after {start + 100} connections"
            )
            await asyncio.sleep(0.005)
    return writers, partial


async def close_all(writers: list[asyncio.StreamWriter], pid: int, descriptors: int) -> int:
    """Close ``writers``; returns ``pid``'s open descriptors once back to ``descriptors`` (or after 20 s)."""
    for writer in writers:
        writer.close()
    deadline = time.monotonic() + 20
    while open_descriptors(pid) > descriptors + 50 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return open_descriptors(pid)


async def trickle(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, data: bytes, every: float) -> bytes:
    """Send ``data`` a byte every ``every`` seconds until the other side answers and closes; returns its answer.
    Fails if the connection is still open a few seconds after the head deadline."""
    answer = asyncio.ensure_future(reader.read())
    give_up = time.monotonic() + FAULT_CONNECTION_LIMITS.head_timeout_s + 3
    try:
        for byte in data:
            await asyncio.wait([answer], timeout=every)
            if answer.done() or time.monotonic() > give_up:
                break
            writer.write(bytes([byte]))
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        done, _ = await asyncio.wait([answer], timeout=max(0.5, give_up - time.monotonic()))
        writer.close()
    assert done, "the slow client's connection is still open"
    return answer.result()


def client_hello() -> bytes:
    """The first flight of a real TLS client (a ClientHello for anywhere.test)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="anywhere.test")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


# -- 10,000 idle connections ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def flood_dev(faults_internet: LocalInternet) -> AsyncIterator[FaultsDev]:
    """An emulator of its own, started with the soft descriptor limit most sessions have: it must raise its own."""
    server = FaultsDev(FAULTS, traversable_folder("floods"), faults_internet, "explicit")
    with descriptor_limit(TYPICAL_SOFT_LIMIT):
        await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_ten_thousand_idle_connections_cost_little_and_block_no_one(flood_dev: FaultsDev) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard < IDLE + 1000:
        pytest.skip(f"the hard limit on open files ({hard}) is below {IDLE + 1000}")
    assert flood_dev.process is not None
    pid = flood_dev.process.pid
    other = await flood_dev.sandbox("flood-other", "Faulty", "fine")
    await latencies(other, 20)  # warm: worker, connection paths
    before = statistics.median(await latencies(other, 30))
    rss_before, fds_before = flood_dev.rss_mib(), open_descriptors(pid)

    with descriptor_limit(hard):
        started = time.monotonic()
        writers, partial = await open_idle(other.port, IDLE, PARTIAL_EVERY)
        opened_s = time.monotonic() - started
        during = statistics.median(await latencies(other, 30))
        rss_during, fds_during = flood_dev.rss_mib(), open_descriptors(pid)

        # The half-sent heads are closed at the deadline with a 408 that says why; the idle ones stay open.
        answers = await asyncio.gather(*(asyncio.wait_for(reader.read(), 15) for reader in partial))
        assert all(answer.endswith(HEAD_408) and answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
        assert "its request head was still incomplete" in flood_dev.log.read_text()
        idle = [w for n, w in enumerate(writers) if n % PARTIAL_EVERY]
        assert open_descriptors(pid) >= fds_before + len(idle) - 10, "idle connections were closed"

        fds_after = await close_all(writers, pid, fds_before)

        # Memory given back is reused: a second flood costs (next to) nothing more.
        writers, _ = await open_idle(other.port, IDLE // 5, PARTIAL_EVERY)
        rss_again = flood_dev.rss_mib()
        await close_all(writers, pid, fds_before)

    per_connection_kib = (rss_during - rss_before) * 1024 / IDLE
    print(
        f"\n{IDLE} connections opened in {opened_s:.1f} s; other sandbox's median {before * 1000:.1f} ms before, "
        f"{during * 1000:.1f} ms during; emulator RSS {rss_before:.0f} → {rss_during:.0f} MiB "
        f"({per_connection_kib:.1f} KiB per connection), {rss_again:.0f} MiB after a second flood of {IDLE // 5}; "
        f"descriptors {fds_before} → {fds_during} → {fds_after}"
    )
    assert fds_during >= fds_before + IDLE - len(partial), "the emulator did not hold every connection"
    assert during < max(4 * before, before + 0.05), "the other sandbox was slowed down"
    assert per_connection_kib < 40, "each idle connection holds too much"
    assert fds_after <= fds_before + 50, "closed connections' descriptors were not released"
    assert rss_again - rss_during < 16, "memory grew again: what closed connections held was not given back"


# -- slowloris ------------------------------------------------------------------------------------------------
async def test_a_head_sent_a_byte_at_a_time_is_closed_with_a_408_saying_why(dev: FaultsDev, healthy: Healthy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", healthy.client.port)
    started = time.monotonic()
    head = f"GET http://anywhere.test/ HTTP/1.1\r\nProxy-Authorization: {healthy.client.authorization}\r\n\r\n"
    answer = await trickle(writer, reader, head.encode(), every=0.5)
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and answer.endswith(HEAD_408), answer
    limit = FAULT_CONNECTION_LIMITS.head_timeout_s
    assert limit < waited < limit + 2, waited
    assert "(no sandbox known yet): its request head was still incomplete" in dev.log.read_text()
    assert healthy.statuses and not healthy.failures  # served all along


async def test_a_sandboxs_slow_second_head_is_closed_and_audited(dev: FaultsDev, healthy: Healthy) -> None:
    client = await dev.sandbox("slow-second-head", "Faulty", "fine")
    reader, writer = await client.connect("GET", "http://anywhere.test/first")
    first = await asyncio.wait_for(reader.readuntil(b"fine"), 10)
    assert first.startswith(b"HTTP/1.1 200 ")
    # The same keep-alive connection (so attributed to the sandbox), then a second head: its request line at
    # once, its headers slowly.
    writer.write(b"GET http://anywhere.test/second HTTP/1.1\r\n")
    answer = await trickle(writer, reader, b"Host: anywhere.test\r\nX-Slow: 1\r\n\r\n", 0.5)
    assert answer.endswith(HEAD_408), answer
    records = await dev.records("slow-second-head", 2)
    slow = records[1]
    assert (slow["method"], slow["url"], slow["step"], slow["status"]) == (
        "GET",
        "http://anywhere.test/second",
        HEAD_TIMEOUT_STEP,
        408,
    )
    assert slow["error"] == HEAD_408.decode().removeprefix("outbound: ").strip()
    assert healthy.statuses and not healthy.failures


async def test_a_client_hello_sent_a_byte_at_a_time_is_cut_off(dev: FaultsDev, healthy: Healthy) -> None:
    client = await dev.sandbox("slow-hello", "Faulty", "fine")
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(
        f"CONNECT anywhere.test:443 HTTP/1.1\r\nHost: anywhere.test:443\r\n"
        f"Proxy-Authorization: {client.authorization}\r\n\r\n".encode()
    )
    established = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert established.startswith(b"HTTP/1.1 200 ")
    hello = client_hello()
    writer.write(hello[:5])  # the TLS record header at once (one byte alone, mitmproxy refuses as not TLS)
    started = time.monotonic()
    answer = await trickle(writer, reader, hello[5:], every=0.5)
    assert answer == b""  # inside TLS no 408 can be written in plain text: the connection is just closed
    assert time.monotonic() - started < FAULT_CONNECTION_LIMITS.head_timeout_s + 2
    (record,) = await dev.records("slow-hello", 1)
    assert (record["method"], record["url"], record["step"], record["status"]) == (
        "CONNECT",
        "https://anywhere.test:443",
        HEAD_TIMEOUT_STEP,
        None,
    )
    assert healthy.statuses and not healthy.failures


# -- slow bodies ----------------------------------------------------------------------------------------------
async def test_a_body_trickled_to_a_handler_is_closed_with_a_408_and_audited(dev: FaultsDev, healthy: Healthy) -> None:
    client = await dev.sandbox("slow-body", "Faulty", "fine")
    reader, writer = await client.connect("POST", "http://anywhere.test/upload", {"Content-Length": "1000"})
    answer = await trickle(writer, reader, b"b" * 1000, every=0.3)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and answer.endswith(BODY_408), answer
    (record,) = await dev.records("slow-body", 1)
    assert (record["method"], record["status"]) == ("POST", 408)
    assert record["error"] == BODY_408.decode().removeprefix("outbound: ").strip()
    assert healthy.statuses and not healthy.failures


async def test_a_slow_but_steady_upload_is_served(dev: FaultsDev) -> None:
    client = await dev.sandbox("steady-body", "Faulty", "fine")
    size, every = 24 * 1024, 0.25  # 2 KiB every 0.25 s: 8 KiB/s, above the 1 KiB/s floor, for 3 s
    reader, writer = await client.connect("POST", "http://anywhere.test/upload", {"Content-Length": str(size)})
    for _ in range(size // 2048):
        writer.write(b"s" * 2048)
        await writer.drain()
        await asyncio.sleep(every)
    answer = await asyncio.wait_for(reader.readuntil(b"fine"), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
