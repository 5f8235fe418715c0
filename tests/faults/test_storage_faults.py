"""Storage faults: a full disk under a KV or R2 write, and `kill -9` at every step of one.

A full disk is a real one: a 4 MiB tmpfs mounted as the store's folder (root only). A write that does not fit
fails with an error that says so and what to do, in the binding's own error shape (`KV PUT failed: 507 …`,
`put: … (10001)`); the previous value reads back whole, no partial file stays, and writes that fit succeed
again. That holds whether the value file or SQLite's commit of its row is what did not fit, and through a real
`outbound dev` whose --persist-to is a small disk: the Worker catches the error, the log names the binding.

`kill -9` is tried two ways. A child process writes through the bindings and stops at a chosen step of one
write (mid value file, value renamed but row not committed, row committed but replaced files not removed, parts
uploaded but not completed), where the test kills it; and a real `outbound dev` is killed while clients write
through its Worker, then restarted on the same --persist-to. After either, every acknowledged write reads back
whole, the write in flight is there whole or not at all, no file is left that no row names, and the dead
emulator's network namespaces, nftables table and JS workers are gone. The kill points of the `outbound dev`
test are random (the seed is in any failure message); the child's are exact. A row whose value file was removed
behind outbound's back (no crash can do that) is named as such when read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from bindings.errors import BindingError, StorageError
from bindings.kv import KVEntry, KVNamespace
from bindings.kv.store import DATABASE_FILENAME as KV_DATABASE
from bindings.r2 import R2Bucket, R2Limits, R2ObjectBody, R2UploadedPart
from bindings.r2.errors import DiskFull
from bindings.r2.store import DATABASE_NAME as R2_DATABASE
from emulator.netns import default_owner
from tests.e2e.conftest import ROOT, DevServer, namespaces_available, traversable_folder
from tests.support.upstream import LocalInternet

MIB = 1024 * 1024
DISK_BYTES = 4 * MIB


def full_disk_message(folder: Path, reason: str) -> str:
    return (
        f"the disk holding {folder} is full ({reason}): nothing was stored and the previous value is "
        "unchanged; free space on that disk, or give outbound --persist-to a folder on a disk with room"
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


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` at ``mountpoint``: a disk that fills up for real (root only, else skips)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mountpoint.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(mountpoint)],
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


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", DISK_BYTES) as disk:
        yield disk


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


# -- a row whose value file is gone ------------------------------------------------------------------------


@pytest.mark.parametrize("binding", ["kv", "r2"])
async def test_a_value_file_removed_behind_outbounds_back_is_named_as_such(tmp_path: Path, binding: str) -> None:
    # outbound removes a file only after its row, so only something else can leave a row without its file; the
    # read says so (it used to retry five times and then blame a concurrent writer).
    store: KVNamespace | R2Bucket = await (KVNamespace.open(tmp_path) if binding == "kv" else R2Bucket.open(tmp_path))
    try:
        await store.put("key", b"value")
        (blob,) = stored_files(tmp_path)[0]
        (tmp_path / "blobs" / blob).unlink()
        with pytest.raises(StorageError) as raised:
            await store.get("key")
        what = "the value of KV key 'key'" if binding == "kv" else "the object 'key'"
        assert str(raised.value) == (
            f"{what} names a value file that is missing from {tmp_path / 'blobs'} (removed outside outbound?); "
            "delete it or write it again"
        )
        await store.put("key", b"again")  # and writing it again mends it
        entry = await store.get("key")
        assert entry is not None
        assert (entry.value if isinstance(entry, KVEntry) else await entry.body.read()) == b"again"  # type: ignore[union-attr]
    finally:
        await store.close()


# -- kill -9 at a chosen step of a write, through the bindings --------------------------------------------

# The child writes, prints "ack <what>" after each write that returned, and once armed stops at STEP of the
# next write (printing "at STEP" and sleeping) for the test to kill it there. The stops wrap the storage layer's
# own steps, so the disk holds exactly what a crash at that instant leaves:
#   writing    the value's temporary file half written
#   renamed    the value's file complete under its id, its row not committed
#   committed  the row committed, the files it replaced not yet removed
#   parts      (R2) two parts of a multipart upload acknowledged, the upload not completed
#   completed  (R2) complete() committed, the replaced object's and the unchosen part's files not yet removed
CHILD = r"""
import asyncio, sys, time
from pathlib import Path
from bindings._storage import blobs
from bindings.kv import KVEntry, KVNamespace
from bindings.r2 import R2Bucket, R2Limits

KIND, STEP, FOLDER = sys.argv[1], sys.argv[2], Path(sys.argv[3])
armed = False

def stop(step):
    if armed and step == STEP:
        print("at", step, flush=True)
        time.sleep(60)

write_chunk, write, delete = blobs._write_chunk, blobs.BlobStore.write, blobs.BlobStore.delete
written = 0

def chunk_then_stop(file, chunk, hashers):
    global written
    size = write_chunk(file, chunk, hashers)
    written += 1
    if written == 2:
        file.flush()
        stop("writing")
    return size

async def write_then_stop(self, data, hashes=()):
    blob = await write(self, data, hashes)
    stop("renamed")
    return blob

def stop_then_delete(self, ids):
    ids = list(ids)
    if ids:
        stop("committed")
        stop("completed")
    delete(self, ids)

blobs._write_chunk = chunk_then_stop
blobs.BlobStore.write = write_then_stop
blobs.BlobStore.delete = stop_then_delete

def value(size, seed):
    return bytes([seed]) * size

async def chunks(data):
    for start in range(0, len(data), 65536):
        yield data[start:start + 65536]

def ack(what):
    print("ack", what, flush=True)

async def main():
    global armed, written
    if KIND == "kv":
        store = await KVNamespace.open(FOLDER)
        await store.put("a", value(300_000, 1)); ack("a1")
        await store.put("b", value(1000, 2)); ack("b2")
        armed, written = True, 0
        await store.put("a", chunks(value(1_500_000, 3)))
    else:
        store = await R2Bucket.open(FOLDER, limits=R2Limits.for_tests())
        await store.put("a", value(300_000, 1)); ack("a1")
        await store.put("b", value(1000, 2)); ack("b2")
        if STEP in ("parts", "completed"):
            upload = await store.create_multipart_upload("a")
            parts = [await upload.upload_part(n, value(100, 10 + n)) for n in (1, 2, 3)]
            ack("parts " + upload.upload_id + " " + " ".join(part.etag for part in parts))
            armed = True
            stop("parts")
            await upload.complete(parts[:2])
        else:
            armed, written = True, 0
            await store.put("a", chunks(value(1_500_000, 3)))
    print("finished without stopping", flush=True)

asyncio.run(main())
"""


async def crash_child(kind: str, step: str, folder: Path) -> list[str]:
    """Run the child until it stops at ``step``, kill it -9 there; returns its acknowledgements."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, kind, step, str(folder), stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    assert child.stdout is not None
    acks: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(child.stdout.readline(), 15)).decode().strip()
            assert line, "the child exited before reaching the step"
            if line == f"at {step}":
                break
            assert line.startswith("ack "), line
            acks.append(line.removeprefix("ack "))
    finally:
        child.kill()  # SIGKILL
        await child.wait()
    return acks


async def read_back(kind: str, folder: Path, key: str) -> bytes | None:
    if kind == "kv":
        kv = await KVNamespace.open(folder)
        try:
            entry = await kv.get(key)
            return None if entry is None else entry.value
        finally:
            await kv.close()
    bucket = await R2Bucket.open(folder, limits=R2Limits.for_tests())
    try:
        obj = await bucket.get(key)
        return await obj.body.read() if isinstance(obj, R2ObjectBody) else None
    finally:
        await bucket.close()


OLD_A, NEW_A, B = bytes([1]) * 300_000, bytes([3]) * 1_500_000, bytes([2]) * 1000


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("kind", "step", "expected_a", "left_over"),
    [
        ("kv", "writing", OLD_A, "temporary"),
        ("kv", "renamed", OLD_A, "unreferenced"),
        ("kv", "committed", NEW_A, "unreferenced"),
        ("r2", "writing", OLD_A, "temporary"),
        ("r2", "renamed", OLD_A, "unreferenced"),
        ("r2", "committed", NEW_A, "unreferenced"),
    ],
    ids=["kv-writing", "kv-renamed", "kv-committed", "r2-writing", "r2-renamed", "r2-committed"],
)
async def test_kill_9_at_each_step_of_a_write_keeps_the_old_value_or_the_new_one_whole(
    tmp_path: Path, kind: str, step: str, expected_a: bytes, left_over: str
) -> None:
    assert await crash_child(kind, step, tmp_path) == ["a1", "b2"]
    blobs, temporary = stored_files(tmp_path)
    # What the crash left is what that step leaves (else the stop was not where it claims to be).
    if left_over == "temporary":
        assert len(temporary) == 1 and blobs == referenced(tmp_path)
    else:
        assert temporary == set() and len(blobs - referenced(tmp_path)) == 1

    assert await read_back(kind, tmp_path, "a") == expected_a  # reopening sweeps what the crash left
    assert await read_back(kind, tmp_path, "b") == B
    assert_no_orphans(tmp_path)


@pytest.mark.e2e
async def test_kill_9_mid_multipart_upload_keeps_its_acknowledged_parts(tmp_path: Path) -> None:
    acks = await crash_child("r2", "parts", tmp_path)
    assert acks[:2] == ["a1", "b2"]
    _, upload_id, *etags = acks[2].split()
    assert_no_orphans(tmp_path)  # the parts' files are named by their rows: kept, not swept

    bucket = await R2Bucket.open(tmp_path, limits=R2Limits.for_tests())
    try:
        upload = bucket.resume_multipart_upload("a", upload_id)
        done = await upload.complete([R2UploadedPart(n, etag) for n, etag in enumerate(etags, 1)])
        assert done.size == 300
    finally:
        await bucket.close()
    assert await read_back("r2", tmp_path, "a") == bytes([11]) * 100 + bytes([12]) * 100 + bytes([13]) * 100
    assert_no_orphans(tmp_path)


@pytest.mark.e2e
async def test_kill_9_after_a_multipart_completes_leaves_the_new_object_and_no_old_files(tmp_path: Path) -> None:
    await crash_child("r2", "completed", tmp_path)
    blobs, _ = stored_files(tmp_path)
    assert len(blobs - referenced(tmp_path)) == 2  # the replaced object's file and the unchosen part's
    assert await read_back("r2", tmp_path, "a") == bytes([11]) * 100 + bytes([12]) * 100
    assert await read_back("r2", tmp_path, "b") == B
    assert_no_orphans(tmp_path)


# -- kill -9 of a real `outbound dev` while clients write through its Worker -------------------------------

STORAGE = ROOT / "fixtures" / "handlers" / "storage"
KV_FOLDER, R2_FOLDER = Path("kv") / "faults-kv", Path("r2") / "faults-bucket"
# (kind, sizes cycled through, keys): a write of kind K with sequence number N stores value(N) under K + N % keys.
WRITES = (
    ("kv", (10, 120_000, 1_300_000), 4),
    ("r2", (10, 400_000, 2_600_000), 4),
    ("mpu", (5 * MIB + 300_000,), 2),  # two parts: 5 MiB (R2's minimum but for the last) and the rest
)


def expected_value(key: str, seq: int, size: int) -> bytes:
    return f"{key}:{seq}:".encode() + bytes([seq % 251]) * size


@dataclass
class Writes:
    """What a client sent and what was acknowledged (answered "stored"), per key."""

    acked: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)  # sent, no answer (yet)
    sizes: dict[tuple[str, int], int] = field(default_factory=dict)
    seq: int = 0

    async def loop(self, worker: str, kind: str, sizes: tuple[int, ...], keys: int) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                self.seq += 1
                seq, size = self.seq, sizes[self.seq % len(sizes)]
                key = f"{kind}{seq % keys}"
                self.in_flight[key], self.sizes[key, seq] = seq, size
                query = f"seq={seq}&size={size}" + (f"&part={5 * MIB}" if kind == "mpu" else "")
                try:
                    async with session.put(f"{worker}/{kind}/{key}?{query}") as response:
                        answer = await response.text()
                except aiohttp.ClientError:
                    return  # the emulator is gone: this write stays in flight
                assert (response.status, answer) == (200, "stored"), answer
                self.acked[key] = seq
                del self.in_flight[key]


def live_namespaces_and_tables() -> tuple[str, str]:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout
    return netns, tables


def owned(owner: str) -> tuple[list[str], bool]:
    """The network namespaces and whether the nftables table of emulator ``owner`` exist."""
    netns, tables = live_namespaces_and_tables()
    return [line.split()[0] for line in netns.splitlines() if line.startswith(f"obd-{owner}-")], (
        f"outbound_{owner}" in tables.split()
    )


async def outliving(pids: list[int], wait_s: float = 10) -> list[str]:
    """Those of ``pids`` still running after up to ``wait_s`` (a zombie is dead: it holds no memory or port,
    and reaping an orphan is init's business), described."""
    deadline = time.monotonic() + wait_s
    while True:
        running = [describe(pid) for pid in pids if _running(pid)]
        if not running or time.monotonic() > deadline:
            return running
        await asyncio.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def describe(pid: int) -> str:
    """A process as the failure message shows it: pid, state and command line."""
    try:
        state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State"))
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid} (gone)"
    return f"{pid} {state.split(':', 1)[1].strip()} {command[:120]}"


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def restart(server: DevServer) -> None:
    (server.state / "dev.json").unlink(missing_ok=True)  # the killed one's, else start() would read it
    await server.start()


async def check_everything_acknowledged(server: DevServer, writes: Writes, seed: int) -> None:
    """Every acknowledged write reads back whole through the Worker; one in flight is whole or absent. What
    was read back is what the next round builds on (a write in flight may have committed unacknowledged)."""
    worker = str(server.info["worker"])
    async with aiohttp.ClientSession() as session:
        for key in sorted(set(writes.acked) | set(writes.in_flight)):
            async with session.get(f"{worker}/{'kv' if key.startswith('kv') else 'r2'}/{key}") as response:
                body = await response.read()
            allowed = {seq for seq in (writes.acked.get(key), writes.in_flight.get(key)) if seq is not None}
            if response.status == 404:
                assert key not in writes.acked, f"{key}: acknowledged seq {writes.acked[key]} lost (seed {seed})"
                continue
            assert response.status == 200, body[:200]
            seq = int(body.split(b":", 2)[1])
            assert seq in allowed, f"{key}: seq {seq} read back, acknowledged {writes.acked.get(key)} (seed {seed})"
            assert body == expected_value(key, seq, writes.sizes[key, seq]), f"{key}: seq {seq} is not whole"
            writes.acked[key] = seq
    writes.in_flight.clear()


@pytest.mark.e2e
async def test_kill_9_of_outbound_dev_mid_writes_loses_nothing_acknowledged_and_leaves_nothing(
    faults_internet: LocalInternet,
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    chance = random.Random(seed)
    capture = "namespace" if namespaces_available() else "explicit"
    server = DevServer(STORAGE, traversable_folder("storage"), faults_internet, capture)
    writes = Writes()
    await server.start()
    try:
        for round_number in range(2):
            assert server.process is not None
            dead_pid, owner = server.process.pid, default_owner(server.process.pid)
            if capture == "namespace":  # a sandbox, so that there is a namespace to leave behind
                async with server.remote() as remote:
                    await remote.create_sandbox(f"box-{round_number}", "Box")
                    await remote.sandbox(f"box-{round_number}").launch_info()
                namespaces, table = owned(owner)
                assert len(namespaces) == 1 and table, (namespaces, table)
            workers = children(dead_pid)
            assert workers, "outbound dev has no JS workers"

            loops = [
                asyncio.ensure_future(writes.loop(str(server.info["worker"]), kind, sizes, keys))
                for kind, sizes, keys in WRITES
            ]
            await asyncio.sleep(chance.uniform(1.0, 2.5))
            assert not [loop for loop in loops if loop.done()], [loop.exception() for loop in loops if loop.done()]
            server.process.kill()  # SIGKILL, mid-write: three clients are writing
            await server.process.wait()
            await asyncio.wait_for(asyncio.gather(*loops), 10)
            assert writes.acked, "nothing was acknowledged before the kill"

            await restart(server)
            await check_everything_acknowledged(server, writes, seed)
            for folder in (KV_FOLDER, R2_FOLDER):
                assert_no_orphans(server.state / folder)
            if capture == "namespace":  # removed by the new emulator's start, as the owner's process is gone
                assert owned(owner) == ([], False), f"the killed emulator's namespaces or table are left ({owner})"
            assert not await outliving(workers), f"its JS workers outlived it: {await outliving(workers)}"
    finally:
        await server.stop()


@pytest.mark.e2e
async def test_a_handler_catches_a_full_disk_and_outbound_dev_keeps_serving(faults_internet: LocalInternet) -> None:
    with tmpfs(traversable_folder("storage-full"), 24 * MIB) as disk:
        server = DevServer(STORAGE, disk / "state", faults_internet, "explicit")
        await server.start()
        try:
            worker = str(server.info["worker"])
            async with aiohttp.ClientSession() as session:

                async def put(kind: str, key: str, seq: int, size: int) -> tuple[int, str]:
                    async with session.put(f"{worker}/{kind}/{key}?seq={seq}&size={size}") as response:
                        return response.status, await response.text()

                async def get(kind: str, key: str) -> bytes:
                    async with session.get(f"{worker}/{kind}/{key}") as response:
                        assert response.status == 200
                        return await response.read()

                assert await put("r2", "big", 1, 8 * MIB) == (200, "stored")
                assert await put("kv", "big", 2, 2 * MIB) == (200, "stored")
                r2_folder, kv_folder = server.state / R2_FOLDER, server.state / KV_FOLDER
                message = full_disk_message(r2_folder, "No space left on device")
                assert await put("r2", "big", 3, 16 * MIB) == (500, f"Error: put: {message} (10001)")
                message = full_disk_message(kv_folder, "No space left on device")
                assert await put("kv", "big", 4, 16 * MIB) == (500, f"Error: KV PUT failed: 507 {message}")

                assert await get("r2", "big") == expected_value("big", 1, 8 * MIB)
                assert await get("kv", "big") == expected_value("big", 2, 2 * MIB)
                assert await put("r2", "small", 5, 1000) == (200, "stored")  # what fits is still stored
                assert await get("r2", "small") == expected_value("small", 5, 1000)
            for folder in (r2_folder, kv_folder):
                assert_no_orphans(folder)
            # The operator is told too, once per failed write, naming the binding and the folder.
            logged = [line for line in server.log.read_text().splitlines() if "is full" in line]
            assert len(logged) == 2, logged
            assert logged[0].startswith("outbound: error: binding BUCKET: ") and str(r2_folder) in logged[0]
            assert logged[1].startswith("outbound: error: binding KV: ") and str(kv_folder) in logged[1]
        finally:
            await server.stop()
