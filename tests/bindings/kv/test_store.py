"""KV namespaces on disk (bindings/kv/store.py through KVNamespace): what survives reopening, concurrent writers
and a ``kill -9``, and expiry against the injected clock. Handler-visible behaviour is in tests/bindings/kv.test.js.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bindings import BindingError, FakeClock
from bindings.kv import KVEntry, KVLimits, KVListKey, KVNamespace, RawJSON
from bindings.kv.store import DATABASE_FILENAME

TIME_NOW_MS = 1_000_000
REPO = Path(__file__).resolve().parents[3]


def blob_files(folder: Path) -> set[str]:
    return {path.name for path in (folder / "blobs").iterdir()}


def referenced_blobs(folder: Path) -> set[str]:
    with sqlite3.connect(folder / DATABASE_FILENAME) as db:
        return {row[0] for row in db.execute("SELECT blob_id FROM _mf_entries")}


async def test_values_metadata_and_expirations_survive_reopening(tmp_path: Path) -> None:
    clock = FakeClock(TIME_NOW_MS)
    kv = await KVNamespace.open(tmp_path, clock=clock)
    await kv.put("plain", b"\x00\xffbytes")
    await kv.put("rich", b"value", expiration=1500, metadata={"owner": "ci", "n": [1, 2]})
    await kv.put("raw", b"v", metadata=RawJSON('{"spaced": 1}'))
    await kv.close()

    kv = await KVNamespace.open(tmp_path, clock=clock)
    try:
        assert await kv.get("plain") == KVEntry(b"\x00\xffbytes")
        rich = await kv.get("rich")
        assert rich == KVEntry(b"value", '{"owner":"ci","n":[1,2]}', 1500)
        assert rich.metadata == {"owner": "ci", "n": [1, 2]}
        assert (await kv.get("raw")) == KVEntry(b"v", '{"spaced": 1}')  # as JS stringified it
        page = await kv.list()
        assert page.list_complete and page.cursor is None
        assert page.keys == (
            KVListKey("plain"),
            KVListKey("raw", None, '{"spaced": 1}'),
            KVListKey("rich", 1500, '{"owner":"ci","n":[1,2]}'),
        )
        assert blob_files(tmp_path) == referenced_blobs(tmp_path)
        assert len(blob_files(tmp_path)) == 3
    finally:
        await kv.close()


async def test_an_in_memory_namespace_leaves_nothing_behind() -> None:
    kv = await KVNamespace.open(None)
    await kv.put("key", b"value")
    folder = kv.store._blobs.root  # noqa: SLF001 - where its temporary files live
    assert await kv.get("key") == KVEntry(b"value")
    await kv.close()
    assert not folder.exists()


async def test_many_tasks_writing_the_same_and_different_keys(tmp_path: Path) -> None:
    kv = await KVNamespace.open(tmp_path)
    try:
        writes = [kv.put(f"key{i % 10}", f"value{i}".encode(), metadata={"i": i}) for i in range(200)]
        await asyncio.gather(*writes, *(kv.delete(f"gone{i}") for i in range(20)))
        for k in range(10):
            entry = await kv.get(f"key{k}")
            assert entry is not None
            i = entry.metadata["i"]
            assert i % 10 == k and entry.value == f"value{i}".encode()  # value and metadata of one write
        assert len(referenced_blobs(tmp_path)) == 10
        assert blob_files(tmp_path) == referenced_blobs(tmp_path)  # every replaced value's file is gone
    finally:
        await kv.close()


async def test_two_namespaces_open_on_one_folder_write_concurrently(tmp_path: Path) -> None:
    first = await KVNamespace.open(tmp_path)
    second = await KVNamespace.open(tmp_path)  # a second connection, as a second process would have
    try:
        await asyncio.gather(
            *(first.put(f"key{i % 8}", f"first{i}".encode()) for i in range(60)),
            *(second.put(f"key{i % 8}", f"second{i}".encode()) for i in range(60)),
            *(second.put(f"own{i}", b"x") for i in range(10)),
        )
        for k in range(8):
            seen_first, seen_second = await first.get(f"key{k}"), await second.get(f"key{k}")
            assert seen_first is not None and seen_first == seen_second
        assert [key.name for key in (await first.list(prefix="own")).keys] == sorted(f"own{i}" for i in range(10))
        assert blob_files(tmp_path) == referenced_blobs(tmp_path)
        assert len(blob_files(tmp_path)) == 18
    finally:
        await first.close()
        await second.close()


async def test_a_value_being_read_survives_being_replaced(tmp_path: Path) -> None:
    kv = await KVNamespace.open(tmp_path, limits=KVLimits())
    try:
        old = os.urandom(3 << 20)
        await kv.put("key", old)
        reading = await kv.get_stream("key")
        assert reading is not None and reading.size == len(old)
        await kv.put("key", b"new")
        assert len(blob_files(tmp_path)) == 1  # the old file is already unlinked
        assert b"".join([chunk async for chunk in reading.chunks]) == old
        assert await kv.get("key") == KVEntry(b"new")
    finally:
        await kv.close()


async def test_a_streamed_value_over_the_limit_is_measured_whole_and_not_kept(tmp_path: Path) -> None:
    kv = await KVNamespace.open(tmp_path, limits=KVLimits.for_tests())

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 1000

    try:
        with pytest.raises(BindingError) as caught:
            await kv.put("key", chunks())
        assert str(caught.value) == "KV PUT failed: 413 Value length of 5000 exceeds limit of 1024."
        assert await kv.get("key") is None
        assert blob_files(tmp_path) == set()
    finally:
        await kv.close()


async def test_expiry_follows_the_injected_clock(tmp_path: Path) -> None:
    clock = FakeClock(TIME_NOW_MS + 500)  # 1000.5 s: Cloudflare counts whole seconds
    kv = await KVNamespace.open(tmp_path, clock=clock)
    try:
        await kv.put("ttl", b"1", expiration_ttl=60)  # expires at 1060 s
        await kv.put("at", b"2", expiration=1100)
        await kv.put("forever", b"3")
        assert (await kv.get("ttl")) == KVEntry(b"1", None, 1060)
        clock.set(1_059_999)
        assert await kv.get("ttl") is not None
        clock.set(1_060_000)  # expiration <= now
        assert await kv.get("ttl") is None
        assert len(referenced_blobs(tmp_path)) == 2  # the get removed the row and its file
        assert blob_files(tmp_path) == referenced_blobs(tmp_path)

        clock.set(1_100_000)
        assert [key.name for key in (await kv.list()).keys] == ["forever"]  # list removes every expired row
        assert blob_files(tmp_path) == referenced_blobs(tmp_path)
        assert len(blob_files(tmp_path)) == 1
    finally:
        await kv.close()


async def test_an_expired_row_is_not_removed_if_it_was_replaced_meanwhile(tmp_path: Path) -> None:
    clock = FakeClock(TIME_NOW_MS)
    first = await KVNamespace.open(tmp_path, clock=clock)
    second = await KVNamespace.open(tmp_path, clock=clock)
    try:
        await first.put("key", b"old", expiration_ttl=60)
        clock.advance(60)
        await second.put("key", b"new")
        assert await first.get("key") == KVEntry(b"new")
    finally:
        await first.close()
        await second.close()


async def test_any_cursor_string_is_accepted(tmp_path: Path) -> None:
    kv = await KVNamespace.open(tmp_path)
    try:
        for key in ("a", "b", "c"):
            await kv.put(key, b"v")
        page = await kv.list(limit=1)
        assert page.cursor == "YQ=="  # base64("a"): the next page starts after "a"
        assert [key.name for key in (await kv.list(cursor=page.cursor)).keys] == ["b", "c"]
        assert [key.name for key in (await kv.list(cursor="YQ")).keys] == ["b", "c"]  # padding optional
        assert [key.name for key in (await kv.list(cursor="%%%")).keys] == ["a", "b", "c"]
    finally:
        await kv.close()


# A writer that a test kills with SIGKILL: it overwrites 20 keys in a loop and prints "<key> <i>" after each
# put returned. Each value is "<i>:" and then i % 251 repeated i % 300 + 1 times, so a partial one shows.
WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from bindings.kv import KVNamespace

    async def main():
        kv = await KVNamespace.open(Path(sys.argv[1]))
        i = int(sys.argv[2])
        while True:
            key = f"k{i % 20:02d}"
            await kv.put(key, f"{i}:".encode() + bytes([i % 251]) * (i % 300 + 1), metadata={"i": i})
            print(key, i, flush=True)
            i += 1

    asyncio.run(main())
    """
)


def check_value(value: bytes) -> int:
    head, _, rest = value.partition(b":")
    i = int(head)
    assert rest == bytes([i % 251]) * (i % 300 + 1), f"value {i} is incomplete"
    return i


async def test_every_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    # A put takes ~2 ms (blob write and fsync, then the row's commit); killing 0-2.5 ms after an ack lands in
    # every phase of the next one. Each round crashes into the same folder.
    last_acked: dict[str, int] = {}
    for round_number, delay_ms in enumerate((0, 0.3, 0.6, 0.9, 1.2, 1.6, 2.0, 2.5)):
        writer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            str(tmp_path),
            str(round_number * 10_000),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert writer.stdout is not None
        try:
            for _ in range(25):
                line = await asyncio.wait_for(writer.stdout.readline(), 10)
                key, number = line.decode().split()
                last_acked[key] = int(number)
            deadline = time.perf_counter() + delay_ms / 1000
            while time.perf_counter() < deadline:  # finer than the event loop's timers
                pass
        finally:
            writer.kill()  # SIGKILL, somewhere inside the next put
            await writer.wait()

        kv = await KVNamespace.open(tmp_path)  # alone now: sweeps what the crash left
        try:
            for key, acked in last_acked.items():
                entry = await kv.get(key)
                assert entry is not None, key
                written = check_value(entry.value)
                assert written >= acked and entry.metadata == {
                    "i": written
                }  # that write, or a later one that committed
            assert blob_files(tmp_path) == referenced_blobs(tmp_path)  # no orphans, no temporary files
        finally:
            await kv.close()
