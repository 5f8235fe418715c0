"""Sandbox state in SQLite: rows survive a reopen, overrides round-trip (contract §9 case 16)."""

from __future__ import annotations

from pathlib import Path

from emulator.policy import Override, RuntimeOverrides
from emulator.state import STATE_FILENAME, StateStore


async def test_sandboxes_and_overrides_survive_reopening(tmp_path: Path) -> None:
    store = await StateStore.open(tmp_path)
    created = await store.create("agent-1", "MySandbox")
    assert created.overrides is None
    overrides = RuntimeOverrides(
        by_host=(("github.com", Override("x", True, {"hello": "world"})),),
        catch_all=Override("noHttp"),
        allowed_hosts=(),
        intercept_all_registered=True,
    )
    await store.save_overrides("agent-1", overrides)
    await store.close()
    assert (tmp_path / STATE_FILENAME).is_file()

    reopened = await StateStore.open(tmp_path)
    record = await reopened.get("agent-1")
    assert record is not None
    assert record.class_name == "MySandbox"
    assert record.overrides == overrides
    await reopened.close()


async def test_create_is_idempotent_and_keeps_the_first_class(tmp_path: Path) -> None:
    store = await StateStore.open(tmp_path)
    await store.create("s", "A")
    again = await store.create("s", "B")
    assert again.class_name == "A"
    await store.close()


async def test_list_and_delete() -> None:
    store = await StateStore.open(None)
    await store.create("one", "A")
    await store.create("two", "A")
    assert [r.id for r in await store.list()] == ["one", "two"]
    assert await store.delete("one") is True
    assert await store.delete("one") is False
    assert [r.id for r in await store.list()] == ["two"]
    await store.close()
