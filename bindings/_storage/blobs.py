"""Immutable value files, shared by every binding (Miniflare's blob store, as files).

A value is written to a temporary file, fsynced, then renamed to its id, and only then referenced by a row:
a crash before the row commits leaves an unreferenced file, never a row without its file. Replaced and
deleted values are removed after their row is gone. ``sweep`` removes what a crash left behind; it deletes
everything unreferenced only when no other process has the store open (an exclusive ``flock`` on the store's
lock file succeeds), otherwise only leftovers of writers that are no longer alive. A write that does not fit
on the disk removes its partial file and raises ``StorageFull``.
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
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bindings._storage.durable import make_folder, sync_file, sync_folder
from bindings.errors import DISK_FULL_ERRNOS, StorageError, StorageFull

READ_CHUNK_BYTES = 1 << 20
_TEMP_PREFIX = ".tmp-"
# An unreferenced blob younger than this may belong to another process between its rename and its commit.
_GRACE_S = 60.0


class BlobMissing(StorageError):
    """A blob file is gone: deleted after its row was replaced, between reading the row and opening the file."""


class BlobReader:
    """An open blob's bytes as an async iterator of chunks; ``aclose()`` closes the file."""

    def __init__(self, file: BinaryIO, start: int, length: int | None, chunk_bytes: int) -> None:
        self._file: BinaryIO | None = file
        self.size = os.fstat(file.fileno()).st_size  # the whole blob's size in bytes
        self._left = length
        self._chunk_bytes = chunk_bytes
        file.seek(start)

    def __aiter__(self) -> BlobReader:
        return self

    async def __anext__(self) -> bytes:
        file = self._file
        if file is None or (self._left is not None and self._left <= 0):
            await self.aclose()
            raise StopAsyncIteration
        want = self._chunk_bytes if self._left is None else min(self._chunk_bytes, self._left)
        try:
            chunk = await asyncio.to_thread(file.read, want) if want > 65536 else file.read(want)
        except OSError as error:
            await self.aclose()
            raise StorageError(f"cannot read a stored value: {error.strerror}") from error
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        if self._left is not None:
            self._left -= len(chunk)
        return chunk

    async def aclose(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass
class WrittenBlob:
    id: str
    size: int
    digests: dict[str, bytes] = field(default_factory=dict)  # algorithm -> digest, for the ones asked for


def missing_file(what: str, root: Path) -> str:
    """The words for a row whose value file is gone: only something outside outbound removes one."""
    return (
        f"{what} names a value file that is missing from {root} (removed outside outbound?); "
        "delete it or write it again"
    )


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
            make_folder(root)
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
        final = self.root / blob_id
        hashers = {name: hashlib.new(name) for name in hashes}
        size = 0
        try:
            with open(temp, "wb") as file:
                if isinstance(data, bytes | bytearray | memoryview):
                    size = await asyncio.to_thread(_write_chunk, file, bytes(data), hashers)
                else:
                    async for chunk in data:
                        size += await asyncio.to_thread(_write_chunk, file, chunk, hashers)
                await asyncio.to_thread(sync_file, file)
            os.rename(temp, final)
            await asyncio.to_thread(sync_folder, self.root)
        except OSError as error:
            temp.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
            if error.errno in DISK_FULL_ERRNOS:
                raise StorageFull(self.root.parent, error.strerror or "no space left on device") from error
            if isinstance(data, bytes | bytearray | memoryview):
                size = len(data)  # the whole value, not what was written before the failure
            raise StorageError(f"could not store a value of {size} bytes in {self.root}: {error.strerror}") from error
        except BaseException:  # cancelled: the id was never handed out, so its file is nobody's
            temp.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
            raise
        return WrittenBlob(blob_id, size, {name: h.digest() for name, h in hashers.items()})

    # -- reading ---------------------------------------------------------------------------------------
    async def read(self, blob_id: str, start: int = 0, length: int | None = None) -> bytes:
        reader = self.stream(blob_id, start, length)
        try:
            return b"".join([chunk async for chunk in reader])
        finally:
            await reader.aclose()

    def stream(
        self, blob_id: str, start: int = 0, length: int | None = None, chunk_bytes: int = READ_CHUNK_BYTES
    ) -> BlobReader:
        """The bytes ``[start, start + length)`` of a blob, a chunk at a time.

        The file is opened now, so the reader keeps its bytes even if the blob is deleted before it is read
        (a value replaced between a ``get`` and the read of its body). Close the reader with ``aclose()``.
        """
        try:
            file = open(self.path(blob_id), "rb")  # noqa: SIM115 - BlobReader.aclose closes it
        except FileNotFoundError as error:
            raise BlobMissing(f"a stored value is missing ({blob_id[:16]}…): {error.strerror}") from error
        except OSError as error:
            raise StorageError(f"cannot read a stored value ({blob_id[:16]}…): {error.strerror}") from error
        return BlobReader(file, start, length, chunk_bytes)

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
            try:
                if name.startswith(_TEMP_PREFIX):
                    pid = name[len(_TEMP_PREFIX) :].split("-", 1)[0]
                    if alone or not _alive(int(pid) if pid.isdigit() else -1):
                        os.unlink(entry.path)
                        removed.append(name)
                elif name not in referenced and (alone or now - entry.stat().st_mtime > _GRACE_S):
                    os.unlink(entry.path)
                    removed.append(name)
            except FileNotFoundError:  # another process removed it first
                continue
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
