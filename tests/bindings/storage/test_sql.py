"""bindings/_storage/sql.py: one SQLite database per store, durable, shared by tasks and by processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bindings import StorageError
from bindings._storage.sql import Database

SCHEMA = ("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",)


async def rows(db: Database) -> list[tuple[object, ...]]:
    return await db.fetchall("SELECT k, v FROM t ORDER BY k")


async def test_a_committed_write_is_there_after_reopening(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite", SCHEMA)
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES ('a', 1)")
        await tx.execute("INSERT INTO t VALUES ('b', 2)")
    assert await db.execute("UPDATE t SET v = 3 WHERE k = 'b'") == 1
    await db.close()

    db = await Database.open(tmp_path / "db.sqlite", SCHEMA)
    try:
        assert await rows(db) == [("a", 1), ("b", 3)]
        assert await db.fetchone("PRAGMA journal_mode") == ("wal",)
        assert await db.fetchone("PRAGMA synchronous") == (2,)  # FULL
    finally:
        await db.close()


async def test_a_transaction_that_raises_changes_nothing() -> None:
    db = await Database.open(None, SCHEMA)
    try:
        await db.execute("INSERT INTO t VALUES ('a', 1)")
        with pytest.raises(RuntimeError, match="midway"):
            async with db.transaction() as tx:
                await tx.execute("UPDATE t SET v = 2 WHERE k = 'a'")
                await tx.execute("INSERT INTO t VALUES ('b', 2)")
                raise RuntimeError("midway")
        assert await rows(db) == [("a", 1)]
    finally:
        await db.close()


async def test_a_failing_statement_rolls_back_the_transaction_and_raises_storage_error() -> None:
    db = await Database.open(None, SCHEMA)
    try:
        with pytest.raises(StorageError, match="UNIQUE constraint failed"):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES ('a', 1)")
                await tx.execute("INSERT INTO t VALUES ('a', 2)")
        assert await rows(db) == []
        async with db.transaction() as tx:  # the connection is usable again
            await tx.execute("INSERT INTO t VALUES ('a', 3)")
        assert await rows(db) == [("a", 3)]
    finally:
        await db.close()


async def test_transactions_of_many_tasks_on_one_connection_take_turns() -> None:
    # SQLite's transaction belongs to the connection: without turns the second BEGIN fails, and a task's
    # statements would land in another task's transaction.
    db = await Database.open(None, SCHEMA)
    await db.execute("INSERT INTO t VALUES ('counter', 0)")

    async def increment() -> None:
        async with db.transaction() as tx:
            row = await tx.fetchone("SELECT v FROM t WHERE k = 'counter'")
            assert row is not None
            await asyncio.sleep(0)  # let every other task try to run meanwhile
            await db.execute("UPDATE t SET v = ? WHERE k = 'counter'", (row[0] + 1,))

    try:
        await asyncio.gather(*(increment() for _ in range(50)))
        assert await db.fetchone("SELECT v FROM t WHERE k = 'counter'") == (50,)
    finally:
        await db.close()


async def test_other_tasks_do_not_see_an_uncommitted_transaction() -> None:
    db = await Database.open(None, SCHEMA)
    inside = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES ('ghost', 1)")
                inside.set()
                await release.wait()
                raise RuntimeError("rolled back")

    task = asyncio.create_task(writer())
    try:
        await asyncio.wait_for(inside.wait(), 5)
        read = asyncio.create_task(rows(db))
        await asyncio.sleep(0.01)
        assert not read.done()  # it waits for the transaction to end
        release.set()
        await asyncio.wait_for(task, 5)
        assert await asyncio.wait_for(read, 5) == []
    finally:
        release.set()
        await asyncio.wait_for(task, 5)
        await db.close()


async def test_two_connections_to_one_file_write_without_losing_updates(tmp_path: Path) -> None:
    first = await Database.open(tmp_path / "db.sqlite", SCHEMA)
    second = await Database.open(tmp_path / "db.sqlite", SCHEMA)
    await first.execute("INSERT INTO t VALUES ('counter', 0)")

    async def increment(db: Database) -> None:
        async with db.transaction() as tx:  # BEGIN IMMEDIATE: the write lock is taken before the read
            row = await tx.fetchone("SELECT v FROM t WHERE k = 'counter'")
            assert row is not None
            await tx.execute("UPDATE t SET v = ? WHERE k = 'counter'", (row[0] + 1,))

    try:
        await asyncio.gather(*(increment(db) for _ in range(20) for db in (first, second)))
        assert await second.fetchone("SELECT v FROM t WHERE k = 'counter'") == (40,)
    finally:
        await first.close()
        await second.close()


async def test_opening_a_path_that_is_not_a_database_names_it(tmp_path: Path) -> None:
    (tmp_path / "db.sqlite").mkdir()
    with pytest.raises(StorageError, match=r"cannot open the store database .*db\.sqlite"):
        await Database.open(tmp_path / "db.sqlite", SCHEMA)


async def test_like_is_case_sensitive() -> None:
    db = await Database.open(None, SCHEMA)
    try:
        await db.execute("INSERT INTO t VALUES ('Key', 1)")
        assert await db.fetchall("SELECT k FROM t WHERE k LIKE 'key'") == []
    finally:
        await db.close()
