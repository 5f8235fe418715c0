"""One KV namespace on disk: rows in SQLite, values in blob files, expiry against the injected clock.

Miniflare's layout (``src/workers/shared/keyvalue.worker.ts``): a row per key in ``_mf_entries`` holds the
value's blob id, its expiration in milliseconds and its metadata as JSON text; the value itself is an immutable
blob file (``_storage/blobs.py``). A put writes and fsyncs the blob before the row that points at it commits,
and deletes the replaced blob only after that; so a crash leaves at worst an unreferenced file (swept at the next
open), never a row without its value.

Expired rows are removed lazily, as Miniflare does: by the ``get`` that finds one and by every ``list``. A row
expires when its expiration is at or before now (Miniflare's ``get`` rule; contract §4.1).

Keys are ``TEXT`` compared by SQLite's BINARY collation, a ``memcmp`` of their UTF-8 bytes: ``list`` returns
keys in byte order, as Cloudflare does, and a prefix is a key range, not a ``LIKE`` pattern (so ``%``, ``_`` and
``\\`` are literal).
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bindings._storage.blobs import BlobMissing, BlobReader, BlobStore, missing_file
from bindings._storage.clock import Clock
from bindings._storage.sql import Database
from bindings.errors import StorageError

DATABASE_FILENAME = "entries.sqlite"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _mf_entries ("
    " key TEXT PRIMARY KEY, blob_id TEXT NOT NULL, expiration INTEGER, metadata TEXT)",
    "CREATE INDEX IF NOT EXISTS _mf_entries_expiration_idx ON _mf_entries(expiration)",
)
# A row read whose blob was deleted under it (the key was replaced meanwhile) is read again, this many times.
_READ_ATTEMPTS = 5


@dataclass(frozen=True)
class Row:
    key: str
    expiration_ms: int | None
    metadata_json: str | None


class ValueTooLarge(Exception):
    """A value longer than the store was told to accept; ``length`` is its whole length in bytes."""

    def __init__(self, length: int) -> None:
        super().__init__(f"value of {length} bytes is too large")
        self.length = length


class KVStore:
    def __init__(self, db: Database, blobs: BlobStore, clock: Clock) -> None:
        self._db = db
        self._blobs = blobs
        self._clock = clock

    @classmethod
    async def open(cls, folder: Path | None, clock: Clock) -> KVStore:
        """Open the namespace kept in ``folder`` (None: in memory, values in a temporary folder)."""
        db = await Database.open(folder / DATABASE_FILENAME if folder else None, SCHEMA)
        try:
            blobs = await BlobStore.open(folder, lambda: _referenced(db))
        except BaseException:
            await db.close()
            raise
        return cls(db, blobs, clock)

    async def close(self) -> None:
        await self._db.close()
        self._blobs.close()

    # -- reading -----------------------------------------------------------------------------------------
    async def read(self, key: str) -> tuple[Row, BlobReader] | None:
        """The row and an open reader of its value; None if the key is missing or expired."""
        missing_blob = None
        for _ in range(_READ_ATTEMPTS):
            found = await self._db.fetchone(
                "SELECT blob_id, expiration, metadata FROM _mf_entries WHERE key = ?", (key,)
            )
            if found is None:
                return None
            blob_id, expiration_ms, metadata_json = found
            if self._expired(expiration_ms):
                # Only this version of the row: a put that replaced it meanwhile stays.
                gone = await self._db.fetchall(
                    "DELETE FROM _mf_entries WHERE key = ? AND blob_id = ? RETURNING blob_id", (key, blob_id)
                )
                self._blobs.delete(row[0] for row in gone)
                return None
            try:
                reader = self._blobs.stream(blob_id)
            except BlobMissing:
                if blob_id == missing_blob:  # not replaced: the file is gone for good
                    raise StorageError(missing_file(f"the value of KV key {key[:64]!r}", self._blobs.root)) from None
                missing_blob = blob_id
                continue  # replaced or deleted between the row and the file; the row says which
            return Row(key, expiration_ms, metadata_json), reader
        raise StorageError(f"the value of a KV key keeps disappearing while it is read ({key[:64]!r})")

    async def list(self, prefix: str, start_after: str, limit: int) -> tuple[builtins.list[Row], bool]:
        """Up to ``limit`` live rows after ``start_after`` whose key starts with ``prefix``, and whether more follow."""
        now_ms = self._clock.now_ms()
        sql = (
            "SELECT key, expiration, metadata FROM _mf_entries"
            " WHERE key > ? AND key >= ? AND (expiration IS NULL OR expiration > ?)"
        )
        params: builtins.list[object] = [start_after, prefix, now_ms]
        end = _prefix_end(prefix)
        if end is not None:
            sql += " AND key < ?"
            params.append(end)
        found = await self._db.fetchall(sql + " ORDER BY key LIMIT ?", (*params, limit + 1))
        expired = await self._db.fetchall("DELETE FROM _mf_entries WHERE expiration <= ? RETURNING blob_id", (now_ms,))
        self._blobs.delete(row[0] for row in expired)
        rows = [Row(key, expiration_ms, metadata_json) for key, expiration_ms, metadata_json in found]
        return rows[:limit], len(rows) > limit

    # -- writing -----------------------------------------------------------------------------------------
    async def write(
        self,
        key: str,
        value: bytes | AsyncIterable[bytes],
        *,
        expiration_ms: int | None,
        metadata_json: str | None,
        max_size_bytes: int,
    ) -> None:
        """Store ``value`` under ``key``; raises ``ValueTooLarge`` (after reading it all) past ``max_size_bytes``."""
        if isinstance(value, bytes):
            if len(value) > max_size_bytes:
                raise ValueTooLarge(len(value))
            written = await self._blobs.write(value)
        else:
            counted = _Capped(value, max_size_bytes)
            written = await self._blobs.write(counted)
            if counted.length > max_size_bytes:
                self._blobs.delete([written.id])
                raise ValueTooLarge(counted.length)
        # Shielded: once the blob exists, a cancelled caller must not leave the row half-decided.
        await asyncio.shield(self._link(key, written.id, expiration_ms, metadata_json))

    async def _link(self, key: str, blob_id: str, expiration_ms: int | None, metadata_json: str | None) -> None:
        try:
            async with self._db.transaction() as tx:
                replaced = await tx.fetchone("SELECT blob_id FROM _mf_entries WHERE key = ?", (key,))
                await tx.execute(
                    "INSERT OR REPLACE INTO _mf_entries (key, blob_id, expiration, metadata) VALUES (?, ?, ?, ?)",
                    (key, blob_id, expiration_ms, metadata_json),
                )
        except StorageError:
            self._blobs.delete([blob_id])  # the row did not commit, so nothing refers to the new blob
            raise
        if replaced is not None:
            self._blobs.delete([replaced[0]])

    async def delete(self, key: str) -> None:
        gone = await self._db.fetchall("DELETE FROM _mf_entries WHERE key = ? RETURNING blob_id", (key,))
        self._blobs.delete(row[0] for row in gone)

    def _expired(self, expiration_ms: int | None) -> bool:
        return expiration_ms is not None and expiration_ms <= self._clock.now_ms()


def encode_cursor(key: str) -> str:
    """Miniflare's cursor: the base64 of the last key returned; the next page starts after it."""
    return base64.b64encode(key.encode("utf-8")).decode("ascii")


def decode_cursor(cursor: str) -> str:
    """The key a cursor starts after, decoded as leniently as Node's ``Buffer.from(cursor, "base64")``."""
    digits = re.sub(r"[^A-Za-z0-9+/\-_]", "", cursor.split("=", 1)[0]).translate(str.maketrans("-_", "+/"))
    digits = digits[: len(digits) - len(digits) % 4] if len(digits) % 4 == 1 else digits
    raw = base64.b64decode(digits + "=" * (-len(digits) % 4))
    return raw.decode("utf-8", errors="replace")


def _prefix_end(prefix: str) -> str | None:
    """The least string after every string that starts with ``prefix`` (code point order = UTF-8 byte order)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if last + 1 != 0xD800 else 0xE000  # surrogates are not stored characters
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


async def _referenced(db: Database) -> set[str]:
    return {row[0] for row in await db.fetchall("SELECT blob_id FROM _mf_entries")}


class _Capped:
    """Passes chunks through until ``cap`` bytes, then only counts, so a too-large error can give the whole length."""

    def __init__(self, chunks: AsyncIterable[bytes], cap: int) -> None:
        self._chunks = chunks
        self._cap = cap
        self.length = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pass()

    async def _pass(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.length += len(chunk)
            if self.length <= self._cap:
                yield chunk
