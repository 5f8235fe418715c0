"""R2Bucket from Python, on real files: persistence, large bodies streamed both ways, crash safety.

The handler-visible behaviour is tested in tests/bindings/r2.test.js; here are the properties only the
store can show: what survives a reopen or a ``kill -9``, which files are left on disk, and how much memory a
256 MiB object costs (measured in a child process, whose peak RSS is not shared with other tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bindings import FakeClock
from bindings.errors import BindingError
from bindings.r2 import R2Bucket, R2Conditional, R2HTTPMetadata, R2Limits, R2ObjectBody, R2Range, R2UploadedPart
from bindings.r2.conditionals import Etag
from bindings.r2.errors import BadDigest, EntityTooLarge, R2Error
from bindings.r2.store import DATABASE_NAME

ROOT = Path(__file__).resolve().parents[3]
MIB = 1024 * 1024


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def blob_files(folder: Path) -> set[str]:
    return {p.name for p in (folder / "blobs").iterdir() if not p.name.startswith(".")}


def referenced_blobs(folder: Path) -> set[str]:
    with sqlite3.connect(folder / DATABASE_NAME) as db:
        rows = db.execute(
            "SELECT blob_id FROM _mf_objects WHERE blob_id IS NOT NULL UNION SELECT blob_id FROM _mf_multipart_parts"
        ).fetchall()
    return {blob_id for (blob_id,) in rows}


async def test_objects_survive_a_reopen(tmp_path: Path) -> None:
    clock = FakeClock(1_000_000)
    bucket = await R2Bucket.open(tmp_path, clock=clock, limits=R2Limits.for_tests())
    await bucket.put(
        "key",
        b"value",
        http_metadata=R2HTTPMetadata(content_type="text/plain", cache_expiry_ms=1_677_196_800_000),
        custom_metadata={"a": "b"},
        sha256=hashlib.sha256(b"value").digest(),
    )
    upload = await bucket.create_multipart_upload("multipart")
    part = await upload.upload_part(1, b"multipart")
    await upload.complete([part])
    pending = await bucket.create_multipart_upload("later")
    first = await pending.upload_part(1, b"x" * 50)
    await bucket.close()

    bucket = await R2Bucket.open(tmp_path, clock=clock, limits=R2Limits.for_tests())
    try:
        obj = await bucket.get("key")
        assert isinstance(obj, R2ObjectBody)
        assert await obj.body.read() == b"value"
        assert obj.http_metadata == R2HTTPMetadata(content_type="text/plain", cache_expiry_ms=1_677_196_800_000)
        assert dict(obj.custom_metadata) == {"a": "b"}
        assert obj.uploaded_ms == 1_000_000
        assert dict(obj.checksums) == {
            "md5": hashlib.md5(b"value").hexdigest(),
            "sha256": hashlib.sha256(b"value").hexdigest(),
        }
        multipart = await bucket.head("multipart")
        assert multipart is not None and multipart.size == 9 and multipart.etag.endswith("-1")
        # An upload in progress can be resumed after the reopen.
        resumed = bucket.resume_multipart_upload("later", pending.upload_id)
        second = await resumed.upload_part(2, b"yz")
        done = await resumed.complete([first, second])
        assert done.size == 52
        page = await bucket.list()
        assert [o.key for o in page.objects] == ["key", "later", "multipart"]
    finally:
        await bucket.close()
    assert blob_files(tmp_path) == referenced_blobs(tmp_path)


async def test_errors_name_the_operation_and_the_code(tmp_path: Path) -> None:
    bucket = await R2Bucket.open(tmp_path, limits=R2Limits(max_value_size_bytes=10))
    try:
        with pytest.raises(R2Error) as raised:
            await bucket.put("x" * 1025, b"v")
        assert (str(raised.value), raised.value.js_name) == (
            "put: The specified object name is not valid. (10020)",
            "Error",
        )
        with pytest.raises(BadDigest) as digest:
            await bucket.put("k", b"value", md5=b"\0" * 16)
        assert str(digest.value) == (
            "put: The MD5 checksum you specified did not match what we received.\n"
            "You provided a MD5 checksum with value: 00000000000000000000000000000000\n"
            "Actual MD5 was: 2063c1608d6e0baf80249c42e2be5804 (10037)"
        )
        # A stream that outgrows the limit fails while it is read, and leaves no file behind.
        with pytest.raises(
            EntityTooLarge, match=r"^put: Your proposed upload exceeds the maximum allowed object size\."
        ):
            await bucket.put("k", chunks(b"x" * 11, 4))
        with pytest.raises(EntityTooLarge):
            await bucket.put("k", chunks(b"x" * 11, 4), size=11)  # a promised size is checked before reading
        with pytest.raises(BindingError, match=r"^You cannot specify multiple hashing algorithms\.$"):
            await bucket.put("k", b"v", md5=b"\0" * 16, sha1=b"\0" * 20)
        with pytest.raises(BindingError, match=r"^SHA-1 is 20 bytes, not 3$"):
            await bucket.put("k", b"v", sha1=b"abc")
        assert await bucket.head("k") is None
        assert blob_files(tmp_path) == set()
    finally:
        await bucket.close()


async def test_a_reader_keeps_its_bytes_when_the_object_is_replaced(tmp_path: Path) -> None:
    bucket = await R2Bucket.open(tmp_path)
    try:
        await bucket.put("key", b"first value")
        obj = await bucket.get("key", range=R2Range(offset=6))
        assert isinstance(obj, R2ObjectBody)
        await bucket.put("key", b"second value")
        await bucket.delete("key")
        assert await obj.body.read() == b"value"
        assert blob_files(tmp_path) == set()
        # A failed condition answers the object without a body.
        await bucket.put("key", b"v")
        refused = await bucket.get("key", only_if=R2Conditional(etag_matches=(Etag("strong", "nope"),)))
        assert refused is not None and not isinstance(refused, R2ObjectBody)
    finally:
        await bucket.close()


async def test_concurrent_puts_of_one_key_leave_one_object_and_one_blob(tmp_path: Path) -> None:
    bucket = await R2Bucket.open(tmp_path)
    try:
        values = [bytes([i]) * (1000 + i) for i in range(20)]
        await asyncio.gather(*(bucket.put("key", chunks(v, 100)) for v in values))
        obj = await bucket.get("key")
        assert isinstance(obj, R2ObjectBody)
        body = await obj.body.read()
        assert body in values and obj.etag == hashlib.md5(body).hexdigest()
        assert len(blob_files(tmp_path)) == 1
    finally:
        await bucket.close()


BIG_OBJECT = textwrap.dedent(
    """
    import asyncio, hashlib, json, sys
    from pathlib import Path
    from bindings.r2 import R2Bucket

    SIZE, CHUNK = int(sys.argv[2]), 1 << 20

    def peak_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    async def body():
        chunk = bytes(range(256)) * (CHUNK // 256)
        for _ in range(SIZE // CHUNK):
            yield chunk

    async def main():
        bucket = await R2Bucket.open(Path(sys.argv[1]))
        before = peak_kib()
        put = await bucket.put("big", body(), size=SIZE)
        after_put = peak_kib()
        obj = await bucket.get("big")
        md5, size = hashlib.md5(), 0
        async for chunk in obj.body:
            md5.update(chunk)
            size += len(chunk)
        after_get = peak_kib()
        await bucket.close()
        print(json.dumps({"before": before, "after_put": after_put, "after_get": after_get,
                          "etag": put.etag, "read_md5": md5.hexdigest(), "read_size": size}))

    asyncio.run(main())
    """
)


def test_a_256_mib_object_streams_both_ways_in_little_memory(tmp_path: Path) -> None:
    size = 256 * MIB
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", BIG_OBJECT, str(tmp_path), str(size)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    measured = json.loads(result.stdout)
    expected = hashlib.md5(bytes(range(256)) * (size // 256)).hexdigest()
    assert (measured["etag"], measured["read_md5"], measured["read_size"]) == (expected, expected, size)
    growth_mib = (measured["after_get"] - measured["before"]) / 1024
    assert growth_mib < 24, f"peak RSS grew {growth_mib:.1f} MiB for a {size // MIB} MiB object"
    assert time.monotonic() - started < 30


CRASHING_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from bindings.r2 import R2Bucket, R2Limits

    def value(i):
        return bytes([i % 251]) * (1 + (i * 7919) % 300_000)

    async def chunks(data):
        for start in range(0, len(data), 65536):
            yield data[start:start + 65536]

    async def main():
        bucket = await R2Bucket.open(Path(sys.argv[1]), limits=R2Limits.for_tests())
        i = 0
        while True:
            key = f"k{i % 12}"
            if i % 5 == 4:
                upload = await bucket.create_multipart_upload(key, custom_metadata={"i": str(i)})
                parts = [await upload.upload_part(1, value(i)[:60]), await upload.upload_part(2, value(i)[:60])]
                await upload.complete(parts)
            else:
                data = value(i)
                await bucket.put(key, chunks(data) if i % 2 else data, custom_metadata={"i": str(i)})
            print(i, flush=True)
            i += 1

    asyncio.run(main())
    """
)


def expected_value(i: int) -> bytes:
    data = bytes([i % 251]) * (1 + (i * 7919) % 300_000)
    return data[:60] * 2 if i % 5 == 4 else data


async def test_kill_9_loses_no_acknowledged_put_and_leaves_no_half_object(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    acknowledged: dict[str, int] = {}
    try:
        assert writer.stdout is not None
        deadline = time.monotonic() + 20
        while len(acknowledged) < 12 or max(acknowledged.values()) < 80:
            line = writer.stdout.readline()
            assert line, "the writer stopped"
            i = int(line)
            acknowledged[f"k{i % 12}"] = i
            assert time.monotonic() < deadline
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert writer.stdout is not None
        for line in writer.stdout:  # acknowledged before the kill, read after it
            i = int(line)
            acknowledged[f"k{i % 12}"] = i
        writer.stdout.close()

    bucket = await R2Bucket.open(tmp_path, limits=R2Limits.for_tests())
    try:
        for key, last in acknowledged.items():
            obj = await bucket.get(key)
            assert isinstance(obj, R2ObjectBody), key
            i = int(obj.custom_metadata["i"])
            # The put in flight at the kill may have committed without its acknowledgement: never older.
            assert i in (last, last + 12), (key, last, i)
            body = await obj.body.read()
            assert body == expected_value(i), key
            if "-" not in obj.etag:
                assert obj.etag == hashlib.md5(body).hexdigest()
    finally:
        await bucket.close()
    assert blob_files(tmp_path) == referenced_blobs(tmp_path)
    assert not [p for p in (tmp_path / "blobs").iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("operation", ["put", "uploadPart"])
async def test_a_write_cancelled_while_its_row_commits_stays_whole(tmp_path: Path, operation: str) -> None:
    # SQLite commits in aiosqlite's thread whatever happens to the task that asked: a task cancelled while
    # awaiting COMMIT must not then delete the blob the committed row names (it did: the key became unreadable).
    bucket = await R2Bucket.open(tmp_path, limits=R2Limits.for_tests())
    try:
        await bucket.put("k", b"old")
        upload = await bucket.create_multipart_upload("k")
        connection = bucket._store.db._db  # aiosqlite's connection: the test cancels at its COMMIT
        execute = connection.execute
        writing: asyncio.Task[object] | None = None

        def cancel_at_commit(sql: str, *args: object) -> object:
            if sql == "COMMIT" and writing is not None:
                asyncio.get_running_loop().call_soon(writing.cancel)
            return execute(sql, *args)

        connection.execute = cancel_at_commit  # type: ignore[method-assign,assignment]
        if operation == "put":
            writing = asyncio.ensure_future(bucket.put("k", b"new"))
        else:
            writing = asyncio.ensure_future(upload.upload_part(1, b"part"))
        with pytest.raises(asyncio.CancelledError):
            await writing
        connection.execute = execute  # type: ignore[method-assign]
        await asyncio.sleep(0.1)  # the shielded commit and its clean-up finish

        if operation == "put":
            obj = await bucket.get("k")
            assert isinstance(obj, R2ObjectBody) and await obj.body.read() in (b"old", b"new")
        else:
            parts = await bucket._store.db.fetchall("SELECT part_number, etag FROM _mf_multipart_parts")
            assert len(parts) == 1
            done = await upload.complete([R2UploadedPart(1, parts[0][1])])
            obj = await bucket.get("k")
            assert isinstance(obj, R2ObjectBody) and (done.size, await obj.body.read()) == (4, b"part")
        assert blob_files(tmp_path) == referenced_blobs(tmp_path)
    finally:
        await bucket.close()
