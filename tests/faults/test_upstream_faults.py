"""An upstream that refuses, resets mid-body, stalls mid-body or answers something that is not HTTP, met on
passthrough and on a handler's fetch(): the sandbox gets a 502/500 when nothing of the answer was sent yet, or
the connection cut short of its Content-Length when the head was already sent, and the emulator serves the next
request (tests/e2e/test_audit.py covers a handler's fetch() of a refused host; nothing else here was covered)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from tests.faults.conftest import BrokenUpstream, FaultsDev, SandboxClient

pytestmark = pytest.mark.e2e


@dataclass
class Outcome:
    status: int
    promised: int | None  # Content-Length
    body: bytes
    end: str  # "eof" (closed), "open" (kept alive, whole body), "timeout" (the client gave up), "reset"

    @property
    def cut(self) -> bool:
        return self.promised is not None and len(self.body) < self.promised and self.end != "open"


async def exchange(client: SandboxClient, url: str, timeout: float = 3) -> Outcome:
    """One GET through the proxy on a raw connection, read until the body is whole, the connection ends, or
    ``timeout`` (then the client hangs up, as a client's own timeout would)."""
    reader, writer = await client.connect("GET", url)
    data, end = b"", "open"
    deadline = time.monotonic() + timeout
    try:
        while True:
            head, _, body = data.partition(b"\r\n\r\n")
            promised = next(
                (
                    int(v)
                    for k, _, v in (line.partition(b":") for line in head.split(b"\r\n"))
                    if k.lower() == b"content-length"
                ),
                None,
            )
            if _ and promised is not None and len(body) >= promised:
                break
            chunk = await asyncio.wait_for(reader.read(65536), max(deadline - time.monotonic(), 0.01))
            if not chunk:
                end = "eof"
                break
            data += chunk
    except TimeoutError:
        end = "timeout"
    except ConnectionResetError:
        end = "reset"
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return Outcome(status, promised, body, end)


# Passthrough buffers a body this small before it answers, so a fault mid-body is still a 502 (mitmproxy's page
# names the cause); a handler's fetch() streams the body to the sandbox, so a fault after the head cuts it short.
PASSTHROUGH = [
    ("http://refused.test/", 502, "Connect call failed", "[Errno 111] Connect call failed"),
    (
        "http://broken.test/reset",
        502,
        "peer closed connection without sending complete message body",
        "HTTP/1 protocol error",
    ),
    ("http://upstream.test/truncated", 502, "received 10 bytes, expected 1000", "HTTP/1 protocol error"),
    ("http://broken.test/malformed", 502, "Cannot parse HTTP response", "Cannot parse HTTP response"),
]
HANDLER = [
    ("http://refused.test/", 500, "threw Error at src/index.ts:", "Error: Network connection lost. at src/index.ts:"),
    (
        "http://upstream.test/truncated",
        500,
        "threw Error at src/index.ts:",
        "Error: Network connection lost. at src/index.ts:",
    ),
    ("http://broken.test/malformed", 500, "threw Error at src/index.ts:", "Error: internal error; reference = "),
]


async def still_serving(client: SandboxClient) -> None:
    outcome = await exchange(client, "http://upstream.test/echo")
    assert (outcome.status, outcome.end) == (200, "open"), outcome


@pytest.mark.parametrize(("url", "status", "says", "error"), PASSTHROUGH)
async def test_passthrough_answers_502(dev: FaultsDev, url: str, status: int, says: str, error: str) -> None:
    client = await dev.sandbox(f"up-pass-{url.rsplit('/', 1)[1]}", "Passing")
    outcome = await exchange(client, url)
    assert (outcome.status, outcome.cut) == (status, False), outcome
    assert says.encode() in outcome.body
    [record] = await dev.records(client.name, 1)
    # the record has no status (no response came from upstream), though the sandbox got mitmproxy's 502
    assert (record["step"], record["status"]) == ("internet passthrough", None)
    assert str(record["error"]).startswith(error), record
    await still_serving(client)


@pytest.mark.parametrize(("url", "status", "says", "error"), HANDLER)
async def test_a_handlers_failed_fetch_is_a_500(dev: FaultsDev, url: str, status: int, says: str, error: str) -> None:
    client = await dev.sandbox(f"up-fetch-{url.rsplit('/', 1)[1]}", "Faulty", "forward")
    outcome = await exchange(client, url)
    assert (outcome.status, outcome.cut) == (status, False), outcome
    assert outcome.body.startswith(f"outbound: the outbound handler outboundHandlers.forward of Faulty {says}".encode())
    [record] = await dev.records(client.name, 1)
    assert (record["handler"], record["status"]) == ("outboundHandlers.forward", status)
    assert str(record["error"]).startswith(error), record
    await still_serving(client)


async def test_a_reset_after_the_head_cuts_the_handlers_answer_short(dev: FaultsDev) -> None:
    client = await dev.sandbox("up-fetch-reset", "Faulty", "forward")
    outcome = await exchange(client, "http://broken.test/reset")
    assert (outcome.status, outcome.promised, outcome.body, outcome.end) == (200, 100_000, b"x" * 10, "eof")
    [record] = await dev.records(client.name, 1)
    assert (record["status"], record["response_bytes"]) == (None, 10)
    assert record["error"] == (
        "HTTP/1 protocol error: peer closed connection without sending complete message body "
        "(received 10 bytes, expected 100000)"
    )
    await still_serving(client)


async def wait_released(broken: BrokenUpstream, timeout: float = 3) -> None:
    deadline = time.monotonic() + timeout
    while broken.open_stalls and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert broken.open_stalls == 0, "the emulator kept the stalled upstream connection open"


async def test_a_stalled_passthrough_ends_with_the_clients_timeout(dev: FaultsDev, broken: BrokenUpstream) -> None:
    client = await dev.sandbox("up-pass-stall", "Passing")
    outcome = await exchange(client, "http://broken.test/stall", timeout=1)
    assert (outcome.status, outcome.end) == (0, "timeout"), outcome  # the head waits for the buffered body
    [record] = await dev.records(client.name, 1)
    assert (record["status"], record["error"]) == (None, "Client disconnected.")
    await wait_released(broken)
    await still_serving(client)


async def test_a_stalled_fetch_ends_with_the_clients_timeout(dev: FaultsDev, broken: BrokenUpstream) -> None:
    client = await dev.sandbox("up-fetch-stall", "Faulty", "forward")
    outcome = await exchange(client, "http://broken.test/stall", timeout=1)
    assert (outcome.status, outcome.body, outcome.end) == (200, b"x" * 10, "timeout"), outcome
    [record] = await dev.records(client.name, 1)
    assert (record["status"], record["response_bytes"], record["error"]) == (None, 10, "Client disconnected.")
    await still_serving(client)
    await wait_released(broken)
