"""bindings/_storage/blobs.py: immutable value files, written durably, read in ranges, swept after crashes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bindings import StorageError
from bindings._storage.blobs import BlobMissing, BlobStore, new_blob_id


async def nothing_referenced() -> set[str]:
    return set()


async def open_store(folder: Path | None) -> BlobStore:
    return await BlobStore.open(folder, nothing_referenced)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_a_blob_is_written_whole_under_a_new_id_with_its_digests(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        written = await store.write(b"hello world", hashes=("md5", "sha256"))
        assert len(written.id) == 80 and written.id != new_blob_id()
        assert written.size == 11
        assert written.digests == {
            "md5": hashlib.md5(b"hello world").digest(),
            "sha256": hashlib.sha256(b"hello world").digest(),
        }
        assert (tmp_path / "blobs" / written.id).read_bytes() == b"hello world"
        assert store.names() == [written.id]  # no temporary file left behind

        streamed = await store.write(chunks(b"ab", b"", b"cde"))
        assert streamed.size == 5
        assert await store.read(streamed.id) == b"abcde"
    finally:
        store.close()


async def test_a_failed_or_cancelled_write_leaves_no_file(tmp_path: Path) -> None:
    store = await open_store(tmp_path)

    async def failing() -> AsyncIterator[bytes]:
        yield b"partial"
        raise OSError(28, "No space left on device")

    stall = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"partial"
        await stall.wait()
        yield b"never"

    try:
        with pytest.raises(StorageError, match="No space left on device"):
            await store.write(failing())
        task = asyncio.create_task(store.write(stalled()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert store.names() == []
    finally:
        store.close()


async def test_ranged_reads_stream_the_asked_bytes_in_chunks(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    data = bytes(range(256)) * 4
    try:
        blob = await store.write(data)
        assert await store.read(blob.id, 10, 5) == data[10:15]
        assert await store.read(blob.id, 1000) == data[1000:]
        assert await store.read(blob.id, 1000, 100) == data[1000:]  # clamped at the end
        assert await store.read(blob.id, 5, 0) == b""
        reader = store.stream(blob.id, 3, 250, chunk_bytes=100)
        assert reader.size == len(data)
        assert [len(chunk) async for chunk in reader] == [100, 100, 50]
    finally:
        store.close()


async def test_an_open_reader_keeps_its_bytes_after_the_blob_is_deleted(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        blob = await store.write(b"old value")
        reader = store.stream(blob.id)
        store.delete([blob.id])
        assert store.names() == []
        assert b"".join([chunk async for chunk in reader]) == b"old value"
        with pytest.raises(BlobMissing):
            store.stream(blob.id)
    finally:
        store.close()


async def test_blob_ids_cannot_name_other_files(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        for bad in ("", "../x", ".lock", "a/b"):
            with pytest.raises(StorageError, match="invalid blob id"):
                store.path(bad)
    finally:
        store.close()


async def test_opening_alone_sweeps_every_unreferenced_blob_and_temporary_file(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    kept = await store.write(b"referenced")
    orphan = await store.write(b"orphan")
    store.close()
    blobs = tmp_path / "blobs"
    (blobs / f".tmp-{os.getpid()}-{new_blob_id()}").write_bytes(b"a live writer's, but nobody else has the store open")

    async def referenced() -> set[str]:
        return {kept.id}

    store = await BlobStore.open(tmp_path, referenced)
    try:
        assert store.names() == [kept.id]
        assert orphan.id not in store.names()
    finally:
        store.close()


async def test_a_second_opener_removes_only_what_dead_writers_and_old_crashes_left(tmp_path: Path) -> None:
    first = await open_store(tmp_path)  # holds the store open: the next opener is not alone
    blobs = tmp_path / "blobs"
    young = await first.write(b"renamed a moment ago, row not committed yet")
    old = await first.write(b"left by a crash long ago")
    age(blobs / old.id, 3600)
    live_temp = blobs / f".tmp-{os.getpid()}-{new_blob_id()}"
    dead_temp = blobs / f".tmp-{dead_pid()}-{new_blob_id()}"
    live_temp.write_bytes(b"being written")
    dead_temp.write_bytes(b"its writer was killed")

    second = await open_store(tmp_path)
    try:
        assert sorted(second.names()) == sorted([young.id, live_temp.name])
        removed = await second.sweep(set(), alone=False)
        assert removed == []
    finally:
        second.close()
        first.close()


async def test_a_temporary_store_is_removed_on_close() -> None:
    store = await open_store(None)
    blob = await store.write(b"x")
    path = store.path(blob.id)
    assert path.exists()
    store.close()
    assert not path.parent.exists()
