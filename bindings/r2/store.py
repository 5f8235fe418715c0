"""One bucket on disk: object rows in SQLite, bodies in immutable blob files (Miniflare's R2BucketObject).

Tables follow Miniflare's schemas.worker.ts: ``_mf_objects`` (one row per key; ``blob_id`` NULL for an object
assembled from multipart parts), ``_mf_multipart_uploads`` (kept after completion or abort, so that errors
can tell a finished upload from one that never existed) and ``_mf_multipart_parts`` (linked to their object
by ``object_key`` once completed), plus a ``storage_class`` column on the first two.

Durability: a body is written to a temporary file, fsynced and renamed before its row commits, and the
blobs a commit stopped referencing are removed after it. A crash at any point leaves either the old object
or the new one, never half of either; unreferenced files are swept when the bucket is next opened.

A reader opens its files when the object is read, so an overwrite or delete that commits later (and removes
the files) does not change what it returns. Statements of one operation run under ``lock``: the database
connection is shared, and a transaction must not take in another coroutine's statements.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import IO, Any

from bindings._storage.blobs import READ_CHUNK_BYTES, BlobStore, WrittenBlob, missing_file
from bindings._storage.clock import Clock
from bindings._storage.sql import Database
from bindings.errors import StorageError
from bindings.r2 import conditionals, ranges
from bindings.r2.conditionals import R2Conditional
from bindings.r2.errors import BadDigest, EntityTooLarge, PreconditionFailed
from bindings.r2.limits import R2Limits
from bindings.r2.ranges import ByteSpan, R2Range
from bindings.r2.validate import HASHES

DATABASE_NAME = "bucket.sqlite"
DEFAULT_STORAGE_CLASS = "Standard"  # R2's default class (the docs); Miniflare leaves it empty
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_SMALL_READ_BYTES = 1 << 16  # reads up to this size run on the event loop; larger ones in a thread

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS _mf_objects (
        key TEXT PRIMARY KEY,
        blob_id TEXT,
        version TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        uploaded INTEGER NOT NULL,
        checksums TEXT NOT NULL,
        http_metadata TEXT NOT NULL,
        custom_metadata TEXT NOT NULL,
        storage_class TEXT NOT NULL DEFAULT 'Standard'
    )""",
    """CREATE TABLE IF NOT EXISTS _mf_multipart_uploads (
        upload_id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        http_metadata TEXT NOT NULL,
        custom_metadata TEXT NOT NULL,
        state TINYINT DEFAULT 0 NOT NULL,
        storage_class TEXT NOT NULL DEFAULT 'Standard'
    )""",
    """CREATE TABLE IF NOT EXISTS _mf_multipart_parts (
        upload_id TEXT NOT NULL REFERENCES _mf_multipart_uploads(upload_id),
        part_number INTEGER NOT NULL,
        blob_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum_md5 TEXT NOT NULL,
        object_key TEXT REFERENCES _mf_objects(key) DEFERRABLE INITIALLY DEFERRED,
        PRIMARY KEY (upload_id, part_number)
    )""",
    "CREATE INDEX IF NOT EXISTS _mf_multipart_parts_object_key ON _mf_multipart_parts(object_key)",
)
_OBJECT_COLUMNS = (
    "key, blob_id, version, size, etag, uploaded, checksums, http_metadata, custom_metadata, storage_class"
)


# -- values ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class R2HTTPMetadata:
    """The HTTP headers stored with an object; ``cache_expiry_ms`` is the Expires date."""

    content_type: str | None = None
    content_language: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    cache_control: str | None = None
    cache_expiry_ms: int | None = None

    _FIELDS = (
        ("content_type", "contentType"),
        ("content_language", "contentLanguage"),
        ("content_disposition", "contentDisposition"),
        ("content_encoding", "contentEncoding"),
        ("cache_control", "cacheControl"),
        ("cache_expiry_ms", "cacheExpiry"),
    )

    def to_json(self) -> dict[str, Any]:
        """Cloudflare's field names (Miniflare's http_metadata column); unset fields are left out."""
        return {name: getattr(self, attr) for attr, name in self._FIELDS if getattr(self, attr) is not None}

    @classmethod
    def from_json(cls, fields: Mapping[str, Any]) -> R2HTTPMetadata:
        values = {attr: fields[name] for attr, name in cls._FIELDS if fields.get(name) is not None}
        if "cache_expiry_ms" in values:
            values["cache_expiry_ms"] = int(values["cache_expiry_ms"])
        return cls(**values)


@dataclass(frozen=True)
class R2Object:
    """An object's metadata, as head, put, list and complete return it.

    ``etag`` is the hex MD5 of the body (``<md5 of the parts' md5s>-<n>`` for a multipart object);
    ``checksums`` maps md5/sha1/sha256/sha384/sha512 to lowercase hex (multipart objects have none);
    ``range`` is the span returned (head and get only).
    """

    key: str
    version: str
    size: int
    etag: str
    uploaded_ms: int
    http_metadata: R2HTTPMetadata
    custom_metadata: Mapping[str, str]
    checksums: Mapping[str, str]
    storage_class: str = DEFAULT_STORAGE_CLASS
    range: R2Range | None = None

    @property
    def http_etag(self) -> str:
        return f'"{self.etag}"'


@dataclass(frozen=True)
class R2ObjectBody(R2Object):
    """An object with its body: read ``body`` (async iteration, or ``await body.read()``), or ``aclose()`` it."""

    body: BodyReader = field(kw_only=True, repr=False)


@dataclass(frozen=True)
class R2Objects:
    """A list page; ``cursor`` is set exactly when ``truncated``."""

    objects: list[R2Object]
    delimited_prefixes: list[str]
    truncated: bool
    cursor: str | None = None


class BodyReader:
    """The bytes of an object (or a span of it), a chunk at a time, from files opened when it was read."""

    def __init__(self, pieces: list[tuple[IO[bytes], int, int]], chunk_bytes: int = READ_CHUNK_BYTES) -> None:
        self._pieces = pieces  # (open file, offset, length), in order
        self._chunk_bytes = chunk_bytes
        self.size = sum(length for _, _, length in pieces)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        while self._pieces:
            file, offset, length = self._pieces[0]
            if length == 0:
                file.close()
                self._pieces.pop(0)
                continue
            want = min(self._chunk_bytes, length)
            chunk = (
                await asyncio.to_thread(_read_at, file, offset, want)
                if want > _SMALL_READ_BYTES
                else (_read_at(file, offset, want))
            )
            if len(chunk) != want:
                await self.aclose()
                raise StorageError(f"a stored value is shorter than its row says ({len(chunk)} of {want} bytes)")
            self._pieces[0] = (file, offset + want, length - want)
            return chunk
        raise StopAsyncIteration

    async def read(self) -> bytes:
        """Everything not read yet."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        for file, _, _ in self._pieces:
            file.close()
        self._pieces.clear()

    def __del__(self) -> None:  # a body nobody read or closed: its files go with it
        self._close()


def _read_at(file: IO[bytes], offset: int, length: int) -> bytes:
    return os.pread(file.fileno(), length, offset)


@dataclass(frozen=True)
class ObjectRow:
    key: str
    blob_id: str | None  # None: assembled from multipart parts
    version: str
    size: int
    etag: str
    uploaded_ms: int
    checksums: str
    http_metadata: str
    custom_metadata: str
    storage_class: str

    def to_object(self, span: ByteSpan | None = None, *, whole: bool = False) -> R2Object:
        checksums: dict[str, str] = json.loads(self.checksums)
        if _HEX32.match(self.etag):
            checksums["md5"] = self.etag  # a single-part object's MD5 is its etag (stored once)
        range_ = None
        if span is not None:
            range_ = R2Range(offset=span.start, length=span.length)
        elif whole:
            range_ = R2Range(offset=0, length=self.size)
        return R2Object(
            key=self.key,
            version=self.version,
            size=self.size,
            etag=self.etag,
            uploaded_ms=self.uploaded_ms,
            http_metadata=R2HTTPMetadata.from_json(json.loads(self.http_metadata)),
            custom_metadata=json.loads(self.custom_metadata),
            checksums=dict(sorted(checksums.items(), key=lambda item: list(HASHES).index(item[0]))),
            storage_class=self.storage_class,
            range=range_,
        )


def _values(obj: R2Object) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def new_version() -> str:
    return secrets.token_hex(16)


def encode_cursor(key: str) -> str:
    return base64.b64encode(key.encode("utf-8", "surrogatepass")).decode("ascii")


def decode_cursor(cursor: str) -> str | None:
    """The key a cursor continues after; None if it is not one of ours."""
    try:
        return base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None


# -- the store -------------------------------------------------------------------------------------------


class ObjectStore:
    """Rows and blobs of one bucket; R2Bucket and multipart.py use it. Callers validate their input."""

    def __init__(self, db: Database, blobs: BlobStore, clock: Clock, limits: R2Limits) -> None:
        self.db = db
        self.blobs = blobs
        self.clock = clock
        self.limits = limits
        self.lock = asyncio.Lock()

    @classmethod
    async def open(cls, folder: Path | None, clock: Clock, limits: R2Limits) -> ObjectStore:
        db = await Database.open(folder / DATABASE_NAME if folder else None, SCHEMA)
        try:
            blobs = await BlobStore.open(folder, lambda: _referenced_blobs(db))
        except BaseException:
            await db.close()
            raise
        return cls(db, blobs, clock, limits)

    async def close(self) -> None:
        async with self.lock:
            await self.db.close()
            self.blobs.close()

    # -- reading -----------------------------------------------------------------------------------------
    async def row(self, key: str) -> ObjectRow | None:
        async with self.lock:
            found = await self.db.fetchone(f"SELECT {_OBJECT_COLUMNS} FROM _mf_objects WHERE key = ?", (key,))
        return None if found is None else ObjectRow(*found)

    async def get(
        self,
        key: str,
        range_: R2Range | None = None,
        range_header: str | None = None,
        only_if: R2Conditional | None = None,
    ) -> R2ObjectBody | R2Object | None:
        # A file can vanish between reading the row and opening it only if another process replaced the
        # object meanwhile; then the row is read again. The same version missing its file twice was not replaced:
        # its file is gone for good (a crash cannot do that, as files are removed only after their row).
        missing_version = None
        for _ in range(5):
            async with self.lock:
                found = await self.db.fetchone(f"SELECT {_OBJECT_COLUMNS} FROM _mf_objects WHERE key = ?", (key,))
                if found is None:
                    return None
                row = ObjectRow(*found)
                if only_if is not None and not conditionals.holds(only_if, row.etag, row.uploaded_ms):
                    return row.to_object(whole=True)
                span = ranges.resolve(row.size, range_, range_header)
                wanted = span or ByteSpan(0, row.size - 1)
                try:
                    reader = await self._open_body(row, wanted)
                except FileNotFoundError:
                    if row.version == missing_version:
                        raise StorageError(missing_file(f"the object {key!r}", self.blobs.root)) from None
                    missing_version = row.version
                    continue
            return R2ObjectBody(**_values(row.to_object(span, whole=True)), body=reader)
        raise StorageError(f"the object {key!r} kept changing while it was read")

    async def _open_body(self, row: ObjectRow, span: ByteSpan) -> BodyReader:
        if row.blob_id is not None:
            pieces = [(row.blob_id, span.start, span.length)]
        else:
            parts = await self.db.fetchall(
                "SELECT blob_id, size FROM _mf_multipart_parts WHERE object_key = ? ORDER BY part_number",
                (row.key,),
            )
            pieces = []
            start = 0
            for blob_id, size in parts:
                end = start + size - 1
                if start <= span.end and span.start <= end:
                    first = max(start, span.start)
                    last = min(end, span.end)
                    pieces.append((blob_id, first - start, last - first + 1))
                start = end + 1
        opened: list[tuple[IO[bytes], int, int]] = []
        try:
            for blob_id, offset, length in pieces:
                opened.append((open(self.blobs.path(blob_id), "rb"), offset, length))  # noqa: SIM115 - BodyReader closes
        except BaseException:
            for file, _, _ in opened:
                file.close()
            raise
        return BodyReader(opened)

    async def list_objects(
        self,
        prefix: str,
        start_after: str | None,
        limit: int,
        delimiter: str | None,
        include_http: bool,
        include_custom: bool,
    ) -> R2Objects:
        # ?1 prefix, ?2 start after (or NULL), ?3 rows to fetch, ?4 delimiter
        params = (prefix, start_after, limit + 1, delimiter)
        where = "substr(key, 1, length(?1)) = ?1 AND (?2 IS NULL OR key > ?2)"
        async with self.lock:
            if delimiter:
                # Keys with the delimiter after the prefix collapse into one row per delimited prefix; max(key)
                # makes the group's other columns come from its last key, which is also where the next page
                # continues.
                rest = "substr(key, length(?1) + 1)"
                rows = await self.db.fetchall(
                    f"""SELECT max(key) AS last_key,
                          CASE WHEN instr({rest}, ?4) > 0
                               THEN 'p' || substr(key, 1, length(?1) + instr({rest}, ?4) + length(?4) - 1)
                               ELSE 'k' || key END AS grp,
                          blob_id, version, size, etag, uploaded, checksums, http_metadata, custom_metadata,
                          storage_class
                        FROM _mf_objects WHERE {where} GROUP BY grp ORDER BY last_key LIMIT ?3""",
                    params,
                )
            else:
                rows = await self.db.fetchall(
                    f"SELECT {_OBJECT_COLUMNS} FROM _mf_objects WHERE {where} ORDER BY key LIMIT ?3", params[:3]
                )
        truncated = len(rows) > limit
        rows = rows[:limit]
        objects: list[R2Object] = []
        prefixes: list[str] = []
        for found in rows:
            columns = found
            if delimiter:
                last_key, group, *values = found
                if group.startswith("p"):
                    prefixes.append(group[1:])
                    continue
                columns = (last_key, *values)
            row = ObjectRow(*columns)
            obj = row.to_object()
            objects.append(
                replace(
                    obj,
                    http_metadata=obj.http_metadata if include_http else R2HTTPMetadata(),
                    custom_metadata=obj.custom_metadata if include_custom else {},
                )
            )
        cursor = encode_cursor(rows[-1][0]) if truncated else None
        return R2Objects(objects, prefixes, truncated, cursor)

    # -- writing -----------------------------------------------------------------------------------------
    async def write_blob(
        self, value: bytes | AsyncIterable[bytes], hashes: Iterable[str], max_bytes: int
    ) -> WrittenBlob:
        """Store a body durably (not yet referenced); a stream longer than ``max_bytes`` fails with 100100."""
        if isinstance(value, bytes | bytearray | memoryview):
            return await self.blobs.write(bytes(value), hashes)
        return await self.blobs.write(_bounded(value, max_bytes), hashes)

    async def put(
        self,
        key: str,
        value: bytes | AsyncIterable[bytes],
        *,
        http_metadata: R2HTTPMetadata,
        custom_metadata: Mapping[str, str],
        checksum: tuple[str, bytes] | None,
        only_if: R2Conditional | None,
        storage_class: str,
    ) -> R2Object | None:
        hashes = ["md5"] + ([HASHES[checksum[0]][1]] if checksum and checksum[0] != "md5" else [])
        blob = await self.write_blob(value, hashes, self.limits.max_value_size_bytes)
        try:
            checksums: dict[str, str] = {}
            if checksum is not None:
                field_name, provided = checksum
                name, hash_name, _ = HASHES[field_name]
                actual = blob.digests[hash_name]
                if provided != actual:
                    raise BadDigest(name, provided, actual)
                if field_name != "md5":
                    checksums[field_name] = actual.hex()
        except BaseException:
            self.blobs.delete([blob.id])
            raise
        row = ObjectRow(
            key=key,
            blob_id=blob.id,
            version=new_version(),
            size=blob.size,
            etag=blob.digests["md5"].hex(),
            uploaded_ms=self.clock.now_ms(),
            checksums=json.dumps(checksums),
            http_metadata=json.dumps(http_metadata.to_json()),
            custom_metadata=json.dumps(dict(custom_metadata)),
            storage_class=storage_class,
        )
        # Shielded: a caller cancelled while the row commits must not delete the blob the committed row names
        # (the commit goes on in SQLite's thread whatever happens here); _link decides on what really happened.
        return await asyncio.shield(self._link(row, only_if))

    async def _link(self, row: ObjectRow, only_if: R2Conditional | None) -> R2Object | None:
        """Commit ``row`` (its blob already durable), then remove the blobs it replaced; its blob if it failed."""
        assert row.blob_id is not None
        try:
            async with self.lock, self.db.transaction():
                if only_if is not None:
                    previous = await self.db.fetchone(
                        "SELECT etag, uploaded FROM _mf_objects WHERE key = ?", (row.key,)
                    )
                    etag, uploaded = previous if previous is not None else (None, None)
                    if not conditionals.holds(only_if, etag, uploaded):
                        raise PreconditionFailed()
                old = await self.replace_object(row)
        except PreconditionFailed:
            self.blobs.delete([row.blob_id])
            return None
        except BaseException:
            self.blobs.delete([row.blob_id])  # the row did not commit, so nothing refers to the new blob
            raise
        self.blobs.delete(old)
        return row.to_object()

    async def replace_object(self, row: ObjectRow) -> list[str]:
        """Inside a transaction: write ``row`` over its key; returns the blobs the old object used."""
        old = await self.remove_object(row.key)
        await self.db.execute(
            f"INSERT INTO _mf_objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.key,
                row.blob_id,
                row.version,
                row.size,
                row.etag,
                row.uploaded_ms,
                row.checksums,
                row.http_metadata,
                row.custom_metadata,
                row.storage_class,
            ),
        )
        return old

    async def remove_object(self, key: str) -> list[str]:
        """Inside a transaction: delete ``key`` (and its parts, if multipart); returns the blobs to remove."""
        found = await self.db.fetchone("DELETE FROM _mf_objects WHERE key = ? RETURNING blob_id", (key,))
        if found is None:
            return []
        if found[0] is not None:
            return [found[0]]
        parts = await self.db.fetchall("DELETE FROM _mf_multipart_parts WHERE object_key = ? RETURNING blob_id", (key,))
        return [blob_id for (blob_id,) in parts]

    async def delete(self, keys: Iterable[str]) -> None:
        async with self.lock:
            old: list[str] = []
            async with self.db.transaction():
                for key in keys:
                    old += await self.remove_object(key)
            self.blobs.delete(old)


async def _bounded(chunks: AsyncIterable[bytes], max_bytes: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise EntityTooLarge()
        yield chunk


async def _referenced_blobs(db: Database) -> set[str]:
    rows = await db.fetchall(
        "SELECT blob_id FROM _mf_objects WHERE blob_id IS NOT NULL UNION SELECT blob_id FROM _mf_multipart_parts"
    )
    return {blob_id for (blob_id,) in rows}
