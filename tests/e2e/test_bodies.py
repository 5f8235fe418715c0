"""Bodies through the proxy: which stream and where they go. A body past 1 MiB streams only when it is passed
through; a denied request's never reaches the host it names, a handler gets all of it, and a handler's own
streamed answer reaches the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import ROOT, DevServer, start_dev, traversable_folder
from tests.support.upstream import LocalInternet

pytestmark = pytest.mark.e2e

AUDIT = ROOT / "fixtures" / "handlers" / "audit"
CURL = ("curl", "-sS", "-m", "20")
MIB = 1024 * 1024


@pytest.fixture(scope="module")
async def dev(internet: LocalInternet) -> AsyncIterator[DevServer]:
    server = await start_dev(AUDIT, traversable_folder("bodies"), internet, "explicit")
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="module")
async def big_file(dev: DevServer) -> str:
    async with dev.remote() as remote:
        await remote.create_sandbox("bodies-1", "Audited")
    (dev.state / "sandboxes" / "bodies-1" / "work" / "2m.bin").write_bytes(b"b" * (2 * MIB))
    return "@2m.bin"


async def test_a_large_body_to_a_denied_host_goes_nowhere(
    dev: DevServer, internet: LocalInternet, big_file: str
) -> None:
    internet.recorder.requests.clear()
    denied = await dev.run("bodies-1", *CURL, "-i", "--data-binary", big_file, "http://denied.test/sink")
    assert denied.stdout.endswith("\r\n\r\nOrigin is disallowed"), denied
    assert denied.stdout.startswith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 520 "), denied
    assert internet.recorder.requests == []  # denied.test is the upstream too: it saw nothing


async def test_a_handler_gets_a_large_body_whole(dev: DevServer, big_file: str) -> None:
    handled = await dev.run("bodies-1", *CURL, "--data-binary", big_file, "http://virtual.test/upload")
    assert handled.stdout == f"virtual read {2 * MIB} bytes", handled


async def test_a_passed_through_body_of_unannounced_length_streams(
    dev: DevServer, internet: LocalInternet, big_file: str
) -> None:
    internet.recorder.requests.clear()
    chunked = await dev.run(
        "bodies-1",
        *CURL,
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        big_file,
        "http://upstream.test/sink",
    )
    assert chunked.stdout == f'{{"received": {2 * MIB}}}', chunked
    assert internet.recorder.requests == [{"method": "POST", "path": "/sink", "bodyLength": 2 * MIB}]


async def test_a_handlers_streamed_answer_reaches_the_sandbox(dev: DevServer) -> None:
    async with dev.remote() as remote:
        await remote.create_sandbox("bodies-2", "Audited")
        await remote.sandbox("bodies-2").set_outbound_handler("forward")
    forwarded = await dev.run("bodies-2", *CURL, "-i", "http://upstream.test/chunked?parts=a,bb,ccc")
    assert forwarded.stdout.startswith("HTTP/1.1 200 OK\r\n"), forwarded
    assert forwarded.stdout.endswith("\r\n\r\nabbccc"), forwarded
