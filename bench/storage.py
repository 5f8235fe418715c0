"""KV and R2 throughput from a handler, beside raw SQLite and file baselines measured in the same run.

    .venv/bin/python bench/storage.py [--small 500] [--large 20] [--state DIR]

The handler path is the whole product path: a sandbox request through the Python API, a JS handler calling
env.KV / env.R2, the bridge to the emulator, SQLite (WAL, synchronous=FULL) and blob files (fsynced). The
baselines do only the storage part with the same durability: one sqlite3 commit per put, and a file written
and fsynced (put) or read (get).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from emulator import Emulator

HANDLERS = Path(__file__).parent / "storage"
SMALL = 1024
LARGE = 10 * 2**20


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


async def timed(count: int, operation: Callable[[int], Awaitable[object]]) -> float:
    started = time.perf_counter()
    for i in range(count):
        await operation(i)
    return time.perf_counter() - started


def sqlite_baseline(folder: Path, count: int) -> tuple[float, float]:
    db = sqlite3.connect(folder / "baseline.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB)")
    value = os.urandom(SMALL)
    started = time.perf_counter()
    for i in range(count):
        db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (f"k{i}", value))
    put = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(count):
        db.execute("SELECT value FROM kv WHERE key = ?", (f"k{i}",)).fetchone()
    get = time.perf_counter() - started
    db.close()
    return rate(count, put), rate(count, get)


def file_baseline(folder: Path, count: int) -> tuple[float, float]:
    data = os.urandom(LARGE)
    started = time.perf_counter()
    for i in range(count):
        with open(folder / f"f{i}", "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    put = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(count):
        (folder / f"f{i}").read_bytes()
    get = time.perf_counter() - started
    mib = count * LARGE / 2**20
    return mib / put, mib / get


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=500, help="1 KiB operations per measurement")
    parser.add_argument("--large", type=int, default=20, help="10 MiB operations per measurement")
    parser.add_argument("--state", type=Path, help="state folder (default: a temporary one on the same disk)")
    options = parser.parse_args()
    folder = options.state or Path(tempfile.mkdtemp(prefix="outbound-bench-"))
    baseline = folder / "baseline"
    baseline.mkdir(parents=True, exist_ok=True)

    async with Emulator.load(HANDLERS, persist_to=folder / "state", workers=1) as emu:
        sandboxes = {}
        for name in ("kvPut", "kvGet", "r2Put", "r2Get"):
            sandboxes[name] = emu.sandbox(f"bench-{name}", cls="Bench")
            await sandboxes[name].set_outbound_handler(name)

        async def call(handler: str, path: str, body: bytes | None = None, expect: int = 200) -> int:
            method = "PUT" if body is not None else "GET"
            response = await sandboxes[handler].fetch(f"http://bench.local/{path}", method=method, body=body)
            assert response.status == expect, (handler, response.status, response.body[:200])
            return len(response.body)

        small = os.urandom(SMALL)
        large = os.urandom(LARGE)
        kv_put = rate(options.small, await timed(options.small, lambda i: call("kvPut", f"s{i}", small, 204)))
        kv_get = rate(options.small, await timed(options.small, lambda i: call("kvGet", f"s{i}")))
        r2_put_small = rate(options.small, await timed(options.small, lambda i: call("r2Put", f"s{i}", small, 204)))
        r2_get_small = rate(options.small, await timed(options.small, lambda i: call("r2Get", f"s{i}")))
        mib = options.large * LARGE / 2**20
        kv_put_large = mib / await timed(options.large, lambda i: call("kvPut", f"l{i}", large, 204))
        kv_get_large = mib / await timed(options.large, lambda i: call("kvGet", f"l{i}"))
        r2_put_large = mib / await timed(options.large, lambda i: call("r2Put", f"l{i}", large, 204))
        r2_get_large = mib / await timed(options.large, lambda i: call("r2Get", f"l{i}"))

    sql_put, sql_get = sqlite_baseline(baseline, options.small)
    file_put, file_get = file_baseline(baseline, options.large)
    print(f"state on {folder}; {options.small} × 1 KiB and {options.large} × 10 MiB operations, sequential")
    print(f"{'operation':38} {'handler':>12} {'baseline':>12} {'ratio':>7}")
    rows = [
        ("KV put 1 KiB (ops/s) vs sqlite3 commit", kv_put, sql_put),
        ("KV get 1 KiB (ops/s) vs sqlite3 select", kv_get, sql_get),
        ("R2 put 1 KiB (ops/s) vs sqlite3 commit", r2_put_small, sql_put),
        ("R2 get 1 KiB (ops/s) vs sqlite3 select", r2_get_small, sql_get),
        ("KV put 10 MiB (MiB/s) vs file+fsync", kv_put_large, file_put),
        ("KV get 10 MiB (MiB/s) vs file read", kv_get_large, file_get),
        ("R2 put 10 MiB (MiB/s) vs file+fsync", r2_put_large, file_put),
        ("R2 get 10 MiB (MiB/s) vs file read", r2_get_large, file_get),
    ]
    for name, handler, base in rows:
        print(f"{name:38} {handler:12.1f} {base:12.1f} {handler / base:7.3f}")


if __name__ == "__main__":
    asyncio.run(main())
