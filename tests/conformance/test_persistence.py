"""Runtime configuration survives a restart of the emulator (contract §9 case 16)."""

from __future__ import annotations

from pathlib import Path

from emulator import Step
from emulator.policy import RuntimeOverrides
from emulator.state import STATE_FILENAME, StateStore
from tests.conformance.conftest import load
from tests.support.upstream import LocalInternet


async def test_overrides_lists_and_sticky_intercept_all_survive_a_restart(
    internet: LocalInternet, tmp_path: Path
) -> None:
    async with load("conformance", internet, in_memory=False, persist_to=tmp_path) as emu:
        sandbox = emu.sandbox("persist-1", cls="Precedence")
        await sandbox.set_outbound_by_host("github.com", "x", {"hello": "world"})
        await sandbox.set_outbound_handler("b")
        await sandbox.set_denied_hosts(["denied.example"])
        await sandbox.allow_host("github.com")
        await sandbox.allow_host("elsewhere.net")
        plain = emu.sandbox("persist-2", cls="Plain")
        await plain.set_allowed_hosts([])  # promotes a class with no static config to intercept-all
    assert (tmp_path / STATE_FILENAME).is_file()

    async with load("conformance", internet, in_memory=False, persist_to=tmp_path) as emu:
        assert sorted(await emu.sandboxes()) == ["persist-1", "persist-2"]
        sandbox = emu.sandbox("persist-1")  # the class is remembered
        github = await sandbox.fetch("http://github.com/")
        assert (github.json()["handler"], github.json()["params"]) == ("x", {"hello": "world"})
        assert (await sandbox.fetch("http://elsewhere.net/")).json()["handler"] == "b"
        assert (await sandbox.fetch("http://denied.example/")).decision.step is Step.DENIED_HOST
        assert (await sandbox.fetch("http://unlisted.net/")).decision.step is Step.NOT_ALLOWLISTED
        blocked = await emu.sandbox("persist-2").fetch("http://h.com/")
        assert (blocked.status, blocked.decision.step) == (520, Step.NOT_ALLOWLISTED)


async def test_overrides_for_handlers_that_are_gone_are_dropped_on_restart(
    internet: LocalInternet, tmp_path: Path, caplog: object
) -> None:
    store = await StateStore.open(tmp_path)
    await store.create("persist-gone", "Precedence")
    stored = {
        "outboundHandlerOverride": {"method": "removedHandler"},
        "outboundByHostOverrides": {"github.com": {"method": "x"}},
    }
    await store.save_overrides("persist-gone", RuntimeOverrides.from_json(stored))
    await store.close()
    async with load("conformance", internet, in_memory=False, persist_to=tmp_path) as emu:
        sandbox = emu.sandbox("persist-gone")
        policy = await sandbox.policy()
        assert policy.overrides.catch_all is None
        assert [host for host, _ in policy.overrides.by_host] == ["github.com"]
    messages = [record.getMessage() for record in caplog.records]  # type: ignore[attr-defined]
    assert (
        "sandbox persist-gone: Ignoring invalid persisted outbound handler override: Error: "
        "Outbound handler method 'removedHandler' not found in outboundHandlers for Precedence"
    ) in messages
    reopened = await StateStore.open(tmp_path)
    record = await reopened.get("persist-gone")
    assert record is not None and record.overrides is not None and record.overrides.catch_all is None
    await reopened.close()  # the stored configuration was rewritten without the dropped override
