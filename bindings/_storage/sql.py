"""One SQLite database per namespace or bucket, opened for durability and for several processes at once.

WAL journal with ``synchronous=FULL``: a write the handler saw succeed is on disk, and a ``kill -9`` of the
emulator loses nothing acknowledged. ``busy_timeout`` lets a second process (``outbound kv put`` beside a
running ``outbound dev``) wait for the lock instead of failing. Each operation that changes more than one row
runs in ``transaction()``, which begins IMMEDIATE so two writers never deadlock on a lock upgrade. A commit
that does not fit on the disk (``SQLITE_FULL``) is rolled back and raises ``StorageFull``.

One connection serves many asyncio tasks, and SQLite's transaction belongs to the connection, not the task:
while a task is inside ``transaction()`` every other task's statement waits its turn (else it would run
inside that transaction, see its uncommitted rows, or fail to BEGIN a second one). The task that owns the
transaction runs its statements straight through, on ``self`` or on what ``transaction()`` yields.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bindings._storage.durable import make_folder
from bindings.errors import DISK_FULL_ERRNOS, StorageError, StorageFull

Row = tuple[Any, ...]


class Database:
    def __init__(self, connection: aiosqlite.Connection, path: Path | None) -> None:
        self._db = connection
        self.path = path
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None  # the task inside transaction(), if any

    @classmethod
    async def open(cls, path: Path | None, schema: Iterable[str]) -> Database:
        """Open (or create) the database at ``path``; None keeps it in memory. ``schema`` is idempotent DDL."""
        connection: aiosqlite.Connection | None = None
        try:
            if path is None:
                connection = await aiosqlite.connect(":memory:", isolation_level=None)
            else:
                make_folder(path.parent)
                connection = await aiosqlite.connect(path, isolation_level=None)
                # busy_timeout first: switching to WAL needs a lock another process may hold for a moment.
                await connection.execute("PRAGMA busy_timeout=10000")
                await connection.execute("PRAGMA journal_mode=WAL")
                await connection.execute("PRAGMA synchronous=FULL")
            await connection.execute("PRAGMA case_sensitive_like=TRUE")
            for statement in schema:
                await connection.execute(statement)
        except (OSError, aiosqlite.Error) as error:
            if connection is not None:
                await connection.close()  # else its thread outlives the failed open
            if path is not None and _disk_full(error):
                raise StorageFull(path.parent, str(error)) from error
            raise StorageError(f"cannot open the store database {path or ':memory:'}: {error}") from error
        return cls(connection, path)

    async def close(self) -> None:
        await self._db.close()

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._turn():
            try:
                async with self._db.execute(sql, params) as cursor:
                    row = await cursor.fetchone()
            except aiosqlite.Error as error:
                raise self._failure("store query failed", error) from error
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a query, or of a statement's RETURNING clause."""
        async with self._turn():
            try:
                async with self._db.execute(sql, params) as cursor:
                    rows = await cursor.fetchall()
            except aiosqlite.Error as error:
                raise self._failure("store query failed", error) from error
        return [tuple(row) for row in rows]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement (autocommit outside a transaction); returns the number of rows changed."""
        async with self._turn():
            try:
                cursor = await self._db.execute(sql, params)
            except aiosqlite.Error as error:
                raise self._failure("store write failed", error) from error
        return cursor.rowcount

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        """All statements inside commit together or not at all; other tasks' statements wait until then."""
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                try:
                    await self._db.execute("BEGIN IMMEDIATE")
                except aiosqlite.Error as error:
                    raise self._failure("cannot start a store transaction", error) from error
                try:
                    yield self
                except BaseException:
                    await self._rollback()
                    raise
                try:
                    await self._db.execute("COMMIT")
                except aiosqlite.Error as error:
                    await self._rollback()
                    raise self._failure("store commit failed", error) from error
            finally:
                self._owner = None

    def _failure(self, doing: str, error: aiosqlite.Error) -> StorageError:
        """The one mapping of SQLite's errors: a full disk is told apart, as the user can act on it."""
        if self.path is not None and _disk_full(error):
            return StorageFull(self.path.parent, str(error))
        return StorageError(f"{doing}: {error}")

    async def _rollback(self) -> None:
        # SQLite may already have rolled back (disk full, I/O error); the original error is the one to report.
        with contextlib.suppress(aiosqlite.Error):
            await self._db.execute("ROLLBACK")

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._owner is not None and self._owner is asyncio.current_task():
            yield  # inside this task's own transaction
            return
        async with self._lock:
            yield


def _disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in DISK_FULL_ERRNOS
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
