"""Binding tests written in JS (``*.test.js``), run inside the real runtime against real stores.

Every file gets fresh stores (SQLite and blob files under a temporary folder) with Cloudflare's limits scaled
down as Miniflare's ``beingTested`` does, a fake clock, and these bindings on ``env``
(``import { env } from "cloudflare:workers"``):

    env.KV        KV namespace "kv-test"            env.KV2     a second namespace, "kv-other"
    env.R2        R2 bucket "r2-test"               env.SECRET  Secrets Store secret "api-key" in store "store-1"
    env.MISSING   Secrets Store secret "nope" (never set)
    env.CLOCK     the fake clock: await env.CLOCK.now() -> ms; await env.CLOCK.set({ms}); await env.CLOCK.advance({seconds})
    env.STORE     test-only store access: await env.STORE.putSecret({name, value}); await env.STORE.blobCount({kind, name})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bindings import FakeClock, KVSpec, Limits, R2Spec, SecretsStoreSpec, open_bindings
from bindings.kv import KVLimits
from bindings.r2 import R2Limits
from bindings.secrets import put_secret
from emulator.runtime.env import BindingHost, js_bindings
from emulator.runtime.env.streams import StreamTable
from emulator.runtime.pool import EnginePool
from emulator.runtime.pool import Limits as PoolLimits
from tests.support.jstests import JSTestFile

TIME_NOW_MS = 1_000_000  # Miniflare's TIME_NOW is 1000 s
SPECS = [
    KVSpec("KV", "kv-test"),
    KVSpec("KV2", "kv-other"),
    R2Spec("R2", "r2-test"),
    SecretsStoreSpec("SECRET", "store-1", "api-key"),
    SecretsStoreSpec("MISSING", "store-1", "nope"),
]


class BindingsTestFile(JSTestFile):
    async def start_pool(self, out: Path, runtime: Path, bundle: Path) -> EnginePool:
        clock = FakeClock(TIME_NOW_MS)
        bindings = await open_bindings(
            SPECS, out / "state", clock=clock, limits=Limits(kv=KVLimits.for_tests(), r2=R2Limits.for_tests())
        )
        self.cleanups.append(bindings.close)

        async def clock_calls(_: Any, op: str, args: dict[str, Any], body: bytes, __: StreamTable) -> tuple[Any, bytes]:
            if op == "set":
                clock.set(int(args["ms"]))
            elif op == "advance":
                clock.advance(float(args["seconds"]))
            return clock.now_ms(), b""

        async def store_calls(_: Any, op: str, args: dict[str, Any], body: bytes, __: StreamTable) -> tuple[Any, bytes]:
            if op == "putSecret":
                await put_secret(bindings["SECRET"].store, args["name"], args["value"])
                return None, b""
            if op == "blobCount":
                folder = out / "state" / args["kind"] / args["name"] / "blobs"
                return len([p for p in folder.iterdir() if not p.name.startswith(".")]), b""
            raise ValueError(f"unknown test store operation {op}")

        host = BindingHost(bindings, extra={"CLOCK": clock_calls, "STORE": store_calls})
        self.cleanups.append(host.close)
        pool = EnginePool(
            runtime_path=runtime,
            bundle_path=bundle,
            env={},
            size=1,
            limits=PoolLimits(cpu_ms=10_000),
            on_rpc=host.handle,
            worker_options={
                "bindings": [*js_bindings(SPECS), {"name": "CLOCK", "type": "rpc"}, {"name": "STORE", "type": "rpc"}]
            },
        )
        await pool.start()
        return pool


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.File | None:
    if file_path.name.endswith(".test.js"):
        return BindingsTestFile.from_parent(parent, path=file_path)
    return None
