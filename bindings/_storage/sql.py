"""One SQLite database per namespace or bucket, opened for durability and for several processes at once.

WAL journal with ``synchronous=FULL``: a write the handler saw succeed is on disk, and a ``kill -9`` of the
emulator loses nothing acknowledged. ``busy_timeout`` lets a second process (``outbound kv put`` beside a
running ``outbound dev``) wait for the lock instead of failing. Each operation that changes more than one row
runs in ``transaction()``, which begins IMMEDIATE so two writers never deadlock on a lock upgrade.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bindings.errors import StorageError

Row = tuple[Any, ...]


class Database:
    def __init__(self, connection: aiosqlite.Connection, path: Path | None) -> None:
        self._db = connection
        self.path = path

    @classmethod
    async def open(cls, path: Path | None, schema: Iterable[str]) -> Database:
        """Open (or create) the database at ``path``; None keeps it in memory. ``schema`` is idempotent DDL."""
        try:
            if path is None:
                connection = await aiosqlite.connect(":memory:", isolation_level=None)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                connection = await aiosqlite.connect(path, isolation_level=None)
                await connection.execute("PRAGMA journal_mode=WAL")
                await connection.execute("PRAGMA synchronous=FULL")
                await connection.execute("PRAGMA busy_timeout=10000")
            await connection.execute("PRAGMA case_sensitive_like=TRUE")
            for statement in schema:
                await connection.execute(statement)
        except (OSError, aiosqlite.Error) as error:
            raise StorageError(f"cannot open the store database {path or ':memory:'}: {error}") from error
        return cls(connection, path)

    async def close(self) -> None:
        await self._db.close()

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            async with self._db.execute(sql, params) as cursor:
                row = await cursor.fetchone()
        except aiosqlite.Error as error:
            raise StorageError(f"store query failed: {error}") from error
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            async with self._db.execute(sql, params) as cursor:
                rows = await cursor.fetchall()
        except aiosqlite.Error as error:
            raise StorageError(f"store query failed: {error}") from error
        return [tuple(row) for row in rows]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement outside a transaction (autocommit); returns the number of rows changed."""
        try:
            cursor = await self._db.execute(sql, params)
        except aiosqlite.Error as error:
            raise StorageError(f"store write failed: {error}") from error
        return cursor.rowcount

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        """All statements inside commit together or not at all."""
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except aiosqlite.Error as error:
            raise StorageError(f"cannot start a store transaction: {error}") from error
        try:
            yield self
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        try:
            await self._db.execute("COMMIT")
        except aiosqlite.Error as error:
            await self._db.execute("ROLLBACK")
            raise StorageError(f"store commit failed: {error}") from error
