"""Storage faults: a full disk under a KV or R2 write, and `kill -9` at every step of one.

A full disk is a real one: a 4 MiB tmpfs mounted as the store's folder (root only). A write that does not fit
fails with an error that says so and what to do, in the binding's own error shape (`KV PUT failed: 507 …`,
`put: … (10001)`); the previous value reads back whole, no partial file stays, and writes that fit succeed
again. That holds whether the value file or SQLite's commit of its row is what did not fit.

`kill -9` is tried two ways. A child process writes through the bindings and stops at a chosen step of one
write (mid value file, value renamed but row not committed, row committed but replaced files not removed, parts
uploaded but not completed), where the test kills it; and a real `outbound dev` is killed while clients write
through its Worker, then restarted on the same --persist-to. After either, every acknowledged write reads back
whole, the write in flight is there whole or not at all, no file is left that no row names, and the dead
emulator's network namespaces and nftables table are gone.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bindings.errors import BindingError
from bindings.kv import KVNamespace
from bindings.kv.store import DATABASE_FILENAME as KV_DATABASE
from bindings.r2 import R2Bucket, R2Limits, R2ObjectBody
from bindings.r2.errors import DiskFull
from bindings.r2.store import DATABASE_NAME as R2_DATABASE
from tests.e2e.conftest import ROOT

MIB = 1024 * 1024
DISK_BYTES = 4 * MIB


def full_disk_message(folder: Path, reason: str) -> str:
    return (
        f"the disk holding {folder} is full ({reason}): nothing was stored and the previous value is "
        "unchanged; free space on that disk, or start outbound with --persist-to on a disk with room"
    )


# -- files on disk -----------------------------------------------------------------------------------------


def stored_files(folder: Path) -> tuple[set[str], set[str]]:
    """(blob files, leftover temporary files) in a store folder."""
    names = {entry.name for entry in (folder / "blobs").iterdir()}
    return {n for n in names if not n.startswith(".")}, {n for n in names if n.startswith(".")}


def referenced(folder: Path) -> set[str]:
    """The blob ids the store's rows name (KV or R2, whichever database the folder holds)."""
    if (folder / KV_DATABASE).exists():
        query = "SELECT blob_id FROM _mf_entries"
        path = folder / KV_DATABASE
    else:
        query = (
            "SELECT blob_id FROM _mf_objects WHERE blob_id IS NOT NULL UNION SELECT blob_id FROM _mf_multipart_parts"
        )
        path = folder / R2_DATABASE
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {blob_id for (blob_id,) in db.execute(query)}


def assert_no_orphans(folder: Path) -> None:
    blobs, temporary = stored_files(folder)
    assert temporary == set(), f"temporary files left in {folder}"
    assert blobs == referenced(folder), f"blob files no row names (or rows without files) in {folder}"


# -- a small disk ------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that fills up for real (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(mountpoint)],
        check=False,
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], check=False, capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], check=True)  # something still holds a file


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with one file; returns it (unlink it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as file, contextlib.suppress(OSError):
        while True:
            file.write(b"\0" * 65536)
    with open(filler, "ab", buffering=0) as file, contextlib.suppress(OSError):
        while True:  # the last partial page, byte by byte
            file.write(b"\0")
    return filler


def pattern(size: int, seed: int) -> bytes:
    return bytes([seed % 251]) * size


async def chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("streamed", [False, True], ids=["bytes", "stream"])
async def test_an_r2_put_too_big_for_the_disk_fails_clearly_and_keeps_the_previous_version(
    small_disk: Path, streamed: bool
) -> None:
    folder = small_disk / "bucket"
    bucket = await R2Bucket.open(folder)
    try:
        previous = pattern(MIB, 1)
        await bucket.put("report", previous, custom_metadata={"v": "1"})

        bigger = pattern(3 * MIB + MIB // 2, 2)  # fits an empty disk, not beside the previous version
        with pytest.raises(DiskFull) as raised:
            await bucket.put("report", chunks(bigger) if streamed else bigger, custom_metadata={"v": "2"})
        assert str(raised.value) == f"put: {full_disk_message(folder, 'No space left on device')} (10001)"

        kept = await bucket.get("report")
        assert isinstance(kept, R2ObjectBody)
        assert (await kept.body.read(), kept.custom_metadata) == (previous, {"v": "1"})
        assert_no_orphans(folder)

        fits = pattern(2 * MIB, 3)  # the failed put's partial file is gone, so this fits
        await bucket.put("report", fits, custom_metadata={"v": "3"})
        replaced = await bucket.get("report")
        assert isinstance(replaced, R2ObjectBody)
        assert (await replaced.body.read(), replaced.custom_metadata) == (fits, {"v": "3"})
        assert_no_orphans(folder)
    finally:
        await bucket.close()


async def test_a_multipart_part_too_big_for_the_disk_fails_and_the_upload_goes_on(small_disk: Path) -> None:
    folder = small_disk / "bucket"
    bucket = await R2Bucket.open(folder, limits=R2Limits.for_tests())
    try:
        upload = await bucket.create_multipart_upload("video")
        first = await upload.upload_part(1, pattern(2 * MIB, 1))
        with pytest.raises(DiskFull) as raised:
            await upload.upload_part(2, pattern(3 * MIB, 2))
        assert str(raised.value) == f"uploadPart: {full_disk_message(folder, 'No space left on device')} (10001)"
        assert_no_orphans(folder)
        second = await upload.upload_part(2, pattern(MIB, 2))
        done = await upload.complete([first, second])
        assert done.size == 3 * MIB
        assert_no_orphans(folder)
    finally:
        await bucket.close()


async def test_a_kv_put_too_big_for_the_disk_fails_clearly_and_keeps_the_previous_value(small_disk: Path) -> None:
    folder = small_disk / "kv"
    kv = await KVNamespace.open(folder)
    try:
        await kv.put("config", pattern(MIB, 1), metadata={"v": 1})
        with pytest.raises(BindingError) as raised:
            await kv.put("config", chunks(pattern(3 * MIB + MIB // 2, 2)), metadata={"v": 2})
        assert str(raised.value) == f"KV PUT failed: 507 {full_disk_message(folder, 'No space left on device')}"
        kept = await kv.get("config")
        assert kept is not None and (kept.value, kept.metadata) == (pattern(MIB, 1), {"v": 1})
        assert_no_orphans(folder)

        await kv.put("config", pattern(2 * MIB, 3), metadata={"v": 3})
        replaced = await kv.get("config")
        assert replaced is not None and (replaced.value, replaced.metadata) == (pattern(2 * MIB, 3), {"v": 3})
        assert_no_orphans(folder)
    finally:
        await kv.close()


@pytest.mark.parametrize("binding", ["kv", "r2"])
async def test_a_commit_that_does_not_fit_changes_nothing_and_the_next_one_succeeds(
    small_disk: Path, binding: str
) -> None:
    # An empty value's file takes no block, so the value is stored and it is SQLite's commit of the row (its
    # metadata a few pages of WAL) that finds the disk full.
    folder = small_disk / binding
    store: KVNamespace | R2Bucket = await (KVNamespace.open(folder) if binding == "kv" else R2Bucket.open(folder))
    big_metadata = "m" * 1000

    async def put(value: bytes, version: int) -> None:
        if isinstance(store, KVNamespace):
            await store.put("key", value, metadata={"v": version, "pad": big_metadata})
        else:
            await store.put("key", value, custom_metadata={"v": str(version), "pad": big_metadata})

    async def read() -> tuple[bytes, str]:
        if isinstance(store, KVNamespace):
            entry = await store.get("key")
            assert entry is not None
            return entry.value, str(entry.metadata["v"])
        obj = await store.get("key")
        assert isinstance(obj, R2ObjectBody)
        return await obj.body.read(), obj.custom_metadata["v"]

    try:
        await put(pattern(100, 1), 1)
        filler = fill(small_disk)
        with pytest.raises(BindingError) as raised:
            await put(b"", 2)
        message = full_disk_message(folder, "database or disk is full")
        expected = f"KV PUT failed: 507 {message}" if binding == "kv" else f"put: {message} (10001)"
        assert str(raised.value) == expected
        assert await read() == (pattern(100, 1), "1")
        assert_no_orphans(folder)

        filler.unlink()
        await put(pattern(200, 3), 3)
        assert await read() == (pattern(200, 3), "3")
        assert_no_orphans(folder)
    finally:
        await store.close()


# Keep ruff from reordering the sys import away when the kill tests below are added.
_ = (sys, ROOT)
