"""bench/load.py still runs: a 2 s load of a few connections from two sandboxes, against mitmproxy and the emulator.
The figures themselves are for people (the script's docstring); here only that it runs, without a failed request."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


async def test_the_load_benchmark_runs_without_errors() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "load.py"),
        *("--seconds", "2", "--connections", "8", "--sandboxes", "2", "--clients", "1"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 180)
    text = out.decode()
    assert process.returncode == 0, text
    rows = {
        row[0]: row
        for row in map(str.split, text.splitlines())
        if row[:1] in (["mitmproxy"], ["emulator"]) and row[1].isdigit()
    }
    assert set(rows) == {"mitmproxy", "emulator"}, text
    assert all(row[4] == "0" for row in rows.values()), text  # errors
    assert "emulator ÷ mitmproxy: req/s × " in text
