"""open_bindings (bindings/__init__.py): stores shared by binding name, and lent to a reloaded Worker's bindings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindings import KVSpec, R2Spec, SecretsStoreSpec, StorageError, open_bindings


async def test_bindings_naming_one_namespace_share_its_store() -> None:
    bindings = await open_bindings([KVSpec("A", "ns"), KVSpec("B", "ns")], None)
    try:
        assert bindings["A"] is bindings["B"]
        assert list(bindings.stores) == [("kv", "ns")]
    finally:
        await bindings.close()


async def test_reused_stores_keep_their_data_and_stay_open_for_the_bindings_that_kept_them() -> None:
    before = await open_bindings([KVSpec("KV", "ns"), R2Spec("R2", "bucket")], None)  # in memory
    await before["KV"].put("key", b"value")
    bucket = before["R2"]
    after = await open_bindings([KVSpec("CACHE", "ns"), SecretsStoreSpec("S", "store", "name")], None, reuse=before)
    try:
        assert after["CACHE"] is before["KV"]
        await before.close(keep=[after])  # the bucket closes; the namespace both use stays open
        entry = await after["CACHE"].get("key")
        assert entry is not None and entry.value == b"value"
        with pytest.raises(ValueError, match="no active connection"):  # aiosqlite's word for a closed database
            await bucket.list()
    finally:
        await after.close()


async def test_a_failed_open_closes_only_what_it_opened(tmp_path: Path) -> None:
    before = await open_bindings([KVSpec("KV", "ns")], tmp_path)
    blocked = tmp_path / "r2"
    blocked.write_text("a file where the r2 folder goes")
    with pytest.raises((StorageError, OSError)):
        await open_bindings([KVSpec("KV", "ns"), R2Spec("R2", "bucket")], tmp_path, reuse=before)
    await before["KV"].put("key", b"still open")
    await before.close()
