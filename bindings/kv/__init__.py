"""Workers KV (contract §4.1): ``KVNamespace`` with Cloudflare's operations, limits and error strings.

A handler's ``env.KV`` is a JS object (``emulator/runtime/js/bindings/kv.js``) whose calls arrive here through
``emulator/runtime/env/kv.py``; the CLI and the Secrets Store call this class directly. Python names follow
Cloudflare's: ``get`` serves both ``get`` and ``getWithMetadata`` (every entry carries its metadata),
``get_bulk`` serves their array forms, ``get_stream`` the ``"stream"`` type.

Local KV is strongly consistent; production is eventually consistent (a write may take ~60 s to be seen
elsewhere). That difference is logged once, as Miniflare does.

    kv = await KVNamespace.open(Path(".outbound/kv/keys-id"))
    await kv.put("agent-1", b"token", expiration_ttl=3600, metadata={"owner": "ci"})
    entry = await kv.get("agent-1")   # KVEntry(value=b"token", metadata_json='{"owner":"ci"}', expiration=...)
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bindings._storage.blobs import BlobReader
from bindings._storage.clock import Clock, SystemClock
from bindings.errors import StorageFull
from bindings.kv import validate
from bindings.kv.limits import KVLimits
from bindings.kv.store import KVStore, Row, ValueTooLarge, decode_cursor, encode_cursor

log = logging.getLogger("outbound")


@dataclass(frozen=True)
class RawJSON:
    """Metadata already serialised (by JS ``JSON.stringify``): stored and measured exactly as given."""

    text: str


@dataclass(frozen=True)
class KVEntry:
    """A present key's value, metadata (JSON text, or None) and expiration (seconds since the epoch, or None)."""

    value: bytes
    metadata_json: str | None = None
    expiration: int | None = None

    @property
    def metadata(self) -> Any:
        return _parse(self.metadata_json)


@dataclass
class KVStream:
    """A present key whose value is read a chunk at a time; ``chunks.aclose()`` releases the file."""

    chunks: BlobReader
    metadata_json: str | None = None
    expiration: int | None = None

    @property
    def size(self) -> int:
        return self.chunks.size

    @property
    def metadata(self) -> Any:
        return _parse(self.metadata_json)


@dataclass(frozen=True)
class KVBulkValue:
    """One value of a bulk get: its text as Miniflare decodes it (UTF-8, U+FFFD for bad bytes, no BOM)."""

    text: str
    metadata_json: str | None = None

    @property
    def metadata(self) -> Any:
        return _parse(self.metadata_json)


@dataclass(frozen=True)
class KVListKey:
    name: str
    expiration: int | None = None  # seconds since the epoch
    metadata_json: str | None = None

    @property
    def metadata(self) -> Any:
        return _parse(self.metadata_json)


@dataclass(frozen=True)
class KVListResult:
    keys: tuple[KVListKey, ...] = field(default_factory=tuple)
    cursor: str | None = None  # set exactly when more keys follow

    @property
    def list_complete(self) -> bool:
        return self.cursor is None


class KVNamespace:
    """One KV namespace. Every method raises ``BindingError`` with Cloudflare's text for bad input."""

    def __init__(self, store: KVStore, *, clock: Clock, limits: KVLimits) -> None:
        self.store = store
        self.clock = clock
        self.limits = limits

    @classmethod
    async def open(
        cls, folder: Path | None, *, clock: Clock | None = None, limits: KVLimits | None = None
    ) -> KVNamespace:
        """Open (or create) the namespace kept in ``folder``; None keeps it in memory and temporary files."""
        clock = clock or SystemClock()
        store = await KVStore.open(folder, clock)
        _note_consistency()
        return cls(store, clock=clock, limits=limits or KVLimits())

    async def close(self) -> None:
        await self.store.close()

    async def get(self, key: str, *, cache_ttl: int | None = None) -> KVEntry | None:
        """The value and metadata of ``key``, or None if it is missing or expired."""
        key = validate.well_formed(key)
        validate.validate_key(key, "GET", self.limits)
        validate.validate_cache_ttl(cache_ttl, "GET", self.limits)
        return await self._read(key)

    async def _read(self, key: str) -> KVEntry | None:
        found = await self._open(key)
        if found is None:
            return None
        try:
            value = b"".join([chunk async for chunk in found.chunks])
        finally:
            await found.chunks.aclose()
        return KVEntry(value, found.metadata_json, found.expiration)

    async def get_stream(self, key: str, *, cache_ttl: int | None = None) -> KVStream | None:
        """Like ``get``, with the value left unread: ``chunks`` yields it (close it if you stop early)."""
        key = validate.well_formed(key)
        validate.validate_key(key, "GET", self.limits)
        validate.validate_cache_ttl(cache_ttl, "GET", self.limits)
        return await self._open(key)

    async def _open(self, key: str) -> KVStream | None:
        found = await self.store.read(key)
        if found is None:
            return None
        row, chunks = found
        return KVStream(chunks, row.metadata_json, _seconds(row.expiration_ms))

    async def get_bulk(
        self, keys: Sequence[str], *, value_type: str | None = None, cache_ttl: int | None = None
    ) -> dict[str, KVBulkValue | None]:
        """``get(keys[])``: each distinct key in request order, None where missing.

        ``value_type`` is "text" (the default) or "json"; "json" requires every present value to parse.
        """
        validate.validate_bulk_request(keys, value_type, self.limits)
        results: dict[str, KVBulkValue | None] = {}
        total_units = 0
        for raw_key in keys:
            key = validate.well_formed(raw_key)
            validate.validate_bulk_key(key, cache_ttl, self.limits)
            entry = await self._read(key)
            if entry is None:
                results.setdefault(key, None)
                continue
            # Miniflare: TextDecoder (strips a BOM), then the JS string's length, in UTF-16 code units.
            text = entry.value.decode("utf-8", errors="replace").removeprefix("\ufeff")
            total_units += len(text.encode("utf-16-le")) // 2
            if value_type == "json" and not _is_json(text):
                raise validate.failed("GET_BULK", 400, validate.BULK_NOT_JSON)
            results.setdefault(key, KVBulkValue(text, entry.metadata_json))
        if total_units > self.limits.max_bulk_size_bytes:
            raise validate.bulk_too_large(self.limits)
        return results

    async def put(
        self,
        key: str,
        value: bytes | AsyncIterable[bytes],
        *,
        expiration: int | None = None,
        expiration_ttl: int | None = None,
        metadata: Any = None,
    ) -> None:
        """Store ``value``; ``expiration`` is seconds since the epoch, ``expiration_ttl`` seconds from now (and
        wins if both are given). ``metadata`` is any JSON value (None: none) or ``RawJSON``."""
        key = validate.well_formed(key)
        validate.validate_key(key, "PUT", self.limits)
        now_seconds = self.clock.now_ms() // 1000
        expires = validate.expiration_seconds(now_seconds, expiration, expiration_ttl, self.limits)
        metadata_json = _serialise(metadata)
        validate.validate_metadata(metadata_json, self.limits)
        try:
            await self.store.write(
                key,
                value,
                expiration_ms=None if expires is None else expires * 1000,
                metadata_json=metadata_json,
                max_size_bytes=self.limits.max_value_size_bytes,
            )
        except ValueTooLarge as error:
            raise validate.value_too_large(error.length, self.limits) from None
        except StorageFull as error:
            raise validate.failed("PUT", validate.INSUFFICIENT_STORAGE, str(error)) from error

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        key = validate.well_formed(key)
        validate.validate_key(key, "DELETE", self.limits)
        try:
            await self.store.delete(key)
        except StorageFull as error:  # even a delete needs room in SQLite's journal
            raise validate.failed("DELETE", validate.INSUFFICIENT_STORAGE, str(error)) from error

    async def list(
        self, *, prefix: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> KVListResult:
        """Live keys in UTF-8 byte order, ``limit`` (default and most 1000) at a time, after ``cursor``."""
        page_size = validate.list_limit(limit, self.limits)
        if prefix is not None:
            prefix = validate.well_formed(prefix)
            validate.validate_key_length(prefix, "GET", self.limits)
        rows, more = await self.store.list(prefix or "", decode_cursor(cursor) if cursor else "", page_size)
        keys = tuple(_list_key(row) for row in rows)
        return KVListResult(keys, encode_cursor(rows[-1].key) if more else None)


def _list_key(row: Row) -> KVListKey:
    return KVListKey(row.key, _seconds(row.expiration_ms), row.metadata_json)


def _seconds(expiration_ms: int | None) -> int | None:
    return None if expiration_ms is None else expiration_ms // 1000


def _serialise(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if isinstance(metadata, RawJSON):
        return metadata.text
    # JSON.stringify's shape: no spaces, characters as they are.
    return json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _parse(metadata_json: str | None) -> Any:
    return None if metadata_json is None else json.loads(metadata_json)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_json(text: str) -> bool:
    """Whether JSON.parse accepts ``text`` (Python's parser, minus its NaN and Infinity extensions)."""
    try:
        json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False
    return True


@functools.cache  # once per process
def _note_consistency() -> None:
    log.debug("KV: local namespaces are strongly consistent; on Cloudflare a write can take up to 60 s to be seen")


__all__ = [
    "KVBulkValue",
    "KVEntry",
    "KVLimits",
    "KVListKey",
    "KVListResult",
    "KVNamespace",
    "KVStream",
    "RawJSON",
]
