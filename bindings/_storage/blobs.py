"""Immutable value files, shared by every binding (Miniflare's blob store, as files).

A value is written to a temporary file, fsynced, then renamed to its id, and only then referenced by a row:
a crash before the row commits leaves an unreferenced file, never a row without its file. Replaced and
deleted values are removed after their row is gone. ``sweep`` removes what a crash left behind; it deletes
everything unreferenced only when no other process has the store open (an exclusive ``flock`` on the store's
lock file succeeds), otherwise only leftovers of writers that are no longer alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bindings.errors import StorageError

READ_CHUNK_BYTES = 1 << 20
_TEMP_PREFIX = ".tmp-"
# An unreferenced blob younger than this may belong to another process between its rename and its commit.
_GRACE_S = 60.0


@dataclass
class WrittenBlob:
    id: str
    size: int
    digests: dict[str, bytes] = field(default_factory=dict)  # algorithm -> digest, for the ones asked for


def new_blob_id() -> str:
    # Miniflare's shape: 32 random bytes and an 8-byte big-endian timestamp, hex.
    return secrets.token_hex(32) + int(time.time() * 1000).to_bytes(8, "big").hex()


class BlobStore:
    def __init__(self, root: Path, lock_fd: int, temporary: tempfile.TemporaryDirectory[str] | None) -> None:
        self.root = root
        self._lock_fd = lock_fd
        self._temporary = temporary

    @classmethod
    async def open(cls, folder: Path | None, referenced: Callable[[], Awaitable[set[str]]]) -> BlobStore:
        """Open the blob folder (None: a temporary one, removed on close) and sweep what crashes left."""
        temporary = None
        if folder is None:
            temporary = tempfile.TemporaryDirectory(prefix="outbound-blobs-")
            folder = Path(temporary.name)
        root = folder / "blobs"
        try:
            root.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise StorageError(f"cannot open the blob folder {root}: {error}") from error
        store = cls(root, lock_fd, temporary)
        alone = store._try_exclusive()
        await store.sweep(await referenced(), alone=alone)
        fcntl.flock(lock_fd, fcntl.LOCK_SH)
        return store

    def _try_exclusive(self) -> bool:
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        os.close(self._lock_fd)
        if self._temporary is not None:
            self._temporary.cleanup()

    def path(self, blob_id: str) -> Path:
        if not blob_id or "/" in blob_id or blob_id.startswith("."):
            raise StorageError(f"invalid blob id {blob_id!r}")
        return self.root / blob_id

    # -- writing ---------------------------------------------------------------------------------------
    async def write(self, data: bytes | AsyncIterable[bytes], hashes: Iterable[str] = ()) -> WrittenBlob:
        """Store ``data`` durably under a new id; returns its size and the requested digests."""
        blob_id = new_blob_id()
        temp = self.root / f"{_TEMP_PREFIX}{os.getpid()}-{blob_id}"
        hashers = {name: hashlib.new(name) for name in hashes}
        size = 0
        try:
            with open(temp, "wb") as file:
                if isinstance(data, bytes | bytearray | memoryview):
                    size = await asyncio.to_thread(_write_chunk, file, bytes(data), hashers)
                else:
                    async for chunk in data:
                        size += await asyncio.to_thread(_write_chunk, file, chunk, hashers)
                await asyncio.to_thread(_sync, file)
            os.rename(temp, self.root / blob_id)
            await asyncio.to_thread(_sync_dir, self.root)
        except OSError as error:
            temp.unlink(missing_ok=True)
            raise StorageError(f"could not store a value of {size} bytes in {self.root}: {error.strerror}") from error
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return WrittenBlob(blob_id, size, {name: h.digest() for name, h in hashers.items()})

    # -- reading ---------------------------------------------------------------------------------------
    async def read(self, blob_id: str, start: int = 0, length: int | None = None) -> bytes:
        return b"".join([chunk async for chunk in self.stream(blob_id, start, length)])

    async def stream(
        self, blob_id: str, start: int = 0, length: int | None = None, chunk_bytes: int = READ_CHUNK_BYTES
    ) -> AsyncIterator[bytes]:
        """The bytes ``[start, start + length)`` of a blob, a chunk at a time."""
        try:
            file = open(self.path(blob_id), "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as error:
            raise StorageError(f"a stored value is missing ({blob_id[:16]}…): {error.strerror}") from error
        try:
            file.seek(start)
            left = length
            while left is None or left > 0:
                want = chunk_bytes if left is None else min(chunk_bytes, left)
                chunk = await asyncio.to_thread(file.read, want) if want > 65536 else file.read(want)
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            file.close()

    # -- removing --------------------------------------------------------------------------------------
    def delete(self, blob_ids: Iterable[str]) -> None:
        for blob_id in blob_ids:
            with contextlib.suppress(OSError):  # left for the next sweep
                self.path(blob_id).unlink(missing_ok=True)

    async def sweep(self, referenced: set[str], *, alone: bool) -> list[str]:
        """Remove blob files no row references: all of them when ``alone``, else only a dead writer's."""
        removed: list[str] = []
        now = time.time()
        for entry in os.scandir(self.root):
            name = entry.name
            if name.startswith(_TEMP_PREFIX):
                pid = name[len(_TEMP_PREFIX) :].split("-", 1)[0]
                if alone or not _alive(int(pid) if pid.isdigit() else -1):
                    os.unlink(entry.path)
                    removed.append(name)
            elif name not in referenced and (alone or now - entry.stat().st_mtime > _GRACE_S):
                os.unlink(entry.path)
                removed.append(name)
        return removed

    def names(self) -> list[str]:
        return sorted(entry.name for entry in os.scandir(self.root))

    def remove_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _write_chunk(file: object, chunk: bytes, hashers: dict[str, hashlib._Hash]) -> int:
    file.write(chunk)  # type: ignore[attr-defined]
    for hasher in hashers.values():
        hasher.update(chunk)
    return len(chunk)


def _sync(file: object) -> None:
    file.flush()  # type: ignore[attr-defined]
    os.fsync(file.fileno())  # type: ignore[attr-defined]


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
