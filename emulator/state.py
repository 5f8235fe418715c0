"""Sandboxes and their runtime egress overrides, kept in SQLite so they survive a restart.

Cloudflare keeps each sandbox's overrides in its Durable Object's storage (``OUTBOUND_CONFIGURATION``,
contract §1.5) and restores them when the object starts again; this table plays that part. One row per sandbox:
its id, the class it was created with (the export name, as in wrangler's ``class_name``), and the overrides
as JSON. WAL with full sync: a policy change that returned has reached the disk.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from emulator.policy import RuntimeOverrides

STATE_FILENAME = "sandboxes.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY,
    class_name TEXT NOT NULL,
    outbound_configuration TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class SandboxRecord:
    id: str
    class_name: str
    overrides: RuntimeOverrides | None  # None until interception was first applied, as in production
    created_ms: int


class StateStore:
    """Open with ``await StateStore.open(folder)``; ``folder=None`` keeps everything in memory."""

    def __init__(self, connection: aiosqlite.Connection, path: Path | None) -> None:
        self._db = connection
        self.path = path

    @classmethod
    async def open(cls, folder: Path | None) -> StateStore:
        if folder is None:
            connection = await aiosqlite.connect(":memory:")
            path = None
        else:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / STATE_FILENAME
            connection = await aiosqlite.connect(path)
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA synchronous=FULL")
            await connection.execute("PRAGMA busy_timeout=5000")
        await connection.execute(_SCHEMA)
        await connection.commit()
        return cls(connection, path)

    async def close(self) -> None:
        await self._db.close()

    async def get(self, sandbox_id: str) -> SandboxRecord | None:
        async with self._db.execute(
            "SELECT id, class_name, outbound_configuration, created_ms FROM sandboxes WHERE id = ?", (sandbox_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _record(row) if row is not None else None

    async def list(self) -> list[SandboxRecord]:
        async with self._db.execute(
            "SELECT id, class_name, outbound_configuration, created_ms FROM sandboxes ORDER BY created_ms, id"
        ) as cursor:
            rows = await cursor.fetchall()
        return [_record(row) for row in rows]

    async def create(self, sandbox_id: str, class_name: str) -> SandboxRecord:
        now = _now_ms()
        await self._db.execute(
            "INSERT INTO sandboxes (id, class_name, outbound_configuration, created_ms, updated_ms) "
            "VALUES (?, ?, NULL, ?, ?) ON CONFLICT(id) DO NOTHING",
            (sandbox_id, class_name, now, now),
        )
        await self._db.commit()
        record = await self.get(sandbox_id)
        assert record is not None
        return record

    async def save_overrides(self, sandbox_id: str, overrides: RuntimeOverrides) -> None:
        await self._db.execute(
            "UPDATE sandboxes SET outbound_configuration = ?, updated_ms = ? WHERE id = ?",
            (json.dumps(overrides.to_json()), _now_ms(), sandbox_id),
        )
        await self._db.commit()

    async def delete(self, sandbox_id: str) -> bool:
        cursor = await self._db.execute("DELETE FROM sandboxes WHERE id = ?", (sandbox_id,))
        await self._db.commit()
        return cursor.rowcount > 0


def _record(row: aiosqlite.Row | tuple[object, ...]) -> SandboxRecord:
    sandbox_id, class_name, configuration, created_ms = row
    overrides = RuntimeOverrides.from_json(json.loads(str(configuration))) if configuration is not None else None
    return SandboxRecord(
        id=str(sandbox_id), class_name=str(class_name), overrides=overrides, created_ms=int(str(created_ms))
    )


def _now_ms() -> int:
    return int(time.time() * 1000)
