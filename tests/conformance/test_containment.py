"""A misbehaving handler costs its request a clear 5xx and nothing else (issue 2 part 6), via the Python API."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from emulator import Emulator

CONFORMANCE = Path(__file__).resolve().parents[2] / "fixtures" / "handlers" / "conformance"


async def run(emu: Emulator, handler: str) -> tuple[int, str]:
    sandbox = emu.sandbox(f"faulty-{handler}", cls="Faulty")
    await sandbox.set_outbound_handler(handler)
    response = await sandbox.fetch("http://h.com/")
    return response.status, response.text()


async def test_a_thrown_error_is_a_500_naming_the_handler_and_ts_line(
    conformance: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="outbound"):
        status, body = await run(conformance, "throws")
    assert status == 500
    assert body == (
        "outbound: the outbound handler outboundHandlers.throws of Faulty threw TypeError at src/index.ts:98:11; "
        "fix the handler or catch the error and return a Response. The request was not forwarded.\n"
    )
    assert "handler exploded" not in body  # the message may carry secrets; it goes to the log only
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "TypeError: handler exploded" in logged
    assert "at Faulty.outboundHandlers.throws (src/index.ts:98:11)" in logged
    assert '>  98 |     throw new TypeError("handler exploded");' in logged


async def test_a_non_response_is_a_500(conformance: Emulator) -> None:
    status, body = await run(conformance, "notResponse")
    assert status == 500
    assert "returned something other than a Response" in body


async def test_a_spinning_handler_is_a_503_and_the_next_request_works(conformance: Emulator) -> None:
    status, body = await run(conformance, "spins")
    assert status == 503
    assert "more than 1000 ms" in body
    assert (await run(conformance, "fine"))[0] == 200


async def test_a_hanging_handler_is_a_504(conformance: Emulator) -> None:
    status, body = await run(conformance, "hangs")
    assert status == 504
    assert "did not return a Response in time" in body
    assert (await run(conformance, "fine"))[0] == 200


async def test_stacks_in_console_output_name_the_ts_file(conformance: Emulator) -> None:
    sandbox = conformance.sandbox("faulty-logs", cls="Faulty")
    await sandbox.set_outbound_handler("logsError")
    response = await sandbox.fetch("http://h.com/")
    [entry] = response.console
    line = next(
        n
        for n, text in enumerate((CONFORMANCE / "src" / "index.ts").read_text().splitlines(), 1)
        if "logged, not thrown" in text
    )
    assert entry.level == "error"
    assert entry.message.startswith("Error: logged, not thrown")
    assert f"src/index.ts:{line}:" in entry.message
    assert "outbound:bundle.js" not in entry.message
