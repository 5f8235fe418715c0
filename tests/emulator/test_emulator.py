"""emulator/emulator.py: what the Python API promises beyond single requests (reset between tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindings import FakeClock
from emulator import Emulator, UserError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def test_reset_forgets_sandboxes_bindings_and_audit_but_keeps_the_workers() -> None:
    clock = FakeClock(now_ms=1_700_000_000_000)
    async with Emulator.load(EXAMPLES / "virtual-hosts", in_memory=True, workers=1, clock=clock) as emu:
        assert emu.bindings is not None
        agent = emu.sandbox("agent-1")
        assert (await agent.fetch("http://my.kv/kept", method="PUT", body=b"v")).status == 204
        assert (await agent.fetch("http://objects.cf/a.txt", method="PUT", body=b"object")).status == 200
        await agent.allow_host("example.com")
        # An entry the test's clock expired must not come back when a later test's clock starts earlier.
        await emu.bindings["KV"].put("expired", b"x", expiration_ttl=60)
        clock.advance(120)
        workers = _children()
        assert workers

        await emu.reset()

        clock.set(1_700_000_000_000)
        assert await emu.sandboxes() == []
        assert emu.audit.records() == []
        assert await emu.bindings["KV"].get("kept") is None
        assert await emu.bindings["KV"].get("expired") is None
        assert (await emu.bindings["R2"].list()).objects == []
        again = emu.sandbox("agent-1")
        assert (await again.policy()).effective_allowed_hosts is None  # the runtime allowHost is gone with the sandbox
        assert (await again.fetch("http://my.kv/kept")).status == 404  # the handler sees the new, empty KV
        assert (await again.fetch("http://my.kv/new", method="PUT", body=b"n")).status == 204
        assert (await emu.bindings["KV"].get("new")).value == b"n"
        assert _children() == workers
        assert [record.url for record in emu.audit.records()] == ["http://my.kv/kept", "http://my.kv/new"]


def _children() -> set[int]:
    """This process's child processes (the JS workers), from /proc."""
    children: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        children |= {int(pid) for pid in (task / "children").read_text().split()}
    return children


async def test_reset_refuses_an_emulator_that_keeps_its_state_on_disk(tmp_path: Path) -> None:
    async with Emulator.load(EXAMPLES / "lockdown", persist_to=tmp_path, workers=1) as emu:
        with pytest.raises(UserError, match=f"keeps its state in {tmp_path} \\(load it with in_memory=True"):
            await emu.reset()
