"""A 64 MiB R2 object through a real JS worker: put from a ReadableStream (a FixedLengthStream's readable
half) and read back as a stream, a chunk at a time in both directions.

The worker asks the test how many body bytes have crossed the bridge so far (env.PROGRESS) while it
produces and consumes the stream: the emulator's side is never more than a couple of chunks behind the
producer or ahead of the reader, so neither side holds the object. tracemalloc shows the emulator's own
peak (every Python allocation, chunks in the binding host and the stream table included).
"""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path
from typing import Any

from bindings import BindingSpec, R2Spec, open_bindings
from emulator.runtime.bridge import unpack_meta
from emulator.runtime.env import BindingHost, js_bindings
from emulator.runtime.env.streams import StreamTable
from emulator.runtime.pool import Limits
from tests.support.engine import started_pool

HERE = Path(__file__).parent
MIB = 1024 * 1024
SIZE_MIB = 64


def expected_etag() -> str:
    md5 = hashlib.md5()
    for i in range(SIZE_MIB):
        md5.update(bytes([i & 0xFF]) * MIB)
    return md5.hexdigest()


async def test_a_64_mib_put_from_a_stream_and_get_as_a_stream(tmp_path: Path) -> None:
    specs: list[BindingSpec] = [R2Spec("R2", "big")]
    bindings = await open_bindings(specs, tmp_path / "state")
    crossed = {"written": 0, "read": 0, "largest": 0}

    async def progress(_: Any, op: str, args: dict[str, Any], body: bytes, __: StreamTable) -> tuple[Any, bytes]:
        return {"written": crossed["written"], "read": crossed["read"]}, b""

    host = BindingHost(bindings, extra={"PROGRESS": progress})

    async def on_rpc(payload: bytes) -> bytes:
        crossed["largest"] = max(crossed["largest"], len(payload))
        meta, body = unpack_meta(payload)
        if meta["o"] == "write":
            crossed["written"] += len(body)
        reply = await host.handle(payload)
        if meta["o"] == "read":
            crossed["read"] += len(unpack_meta(reply)[1])
        crossed["largest"] = max(crossed["largest"], len(reply))
        return reply

    try:
        async with started_pool(
            HERE / "streaming_worker.js",
            tmp_path / "out",
            size=1,
            on_rpc=on_rpc,
            # SpiderMonkey collects the chunks' garbage lazily (well past 128 MiB at this rate), and the pool
            # asks it to collect only every 0.5 s; what this test measures is what crosses the bridge.
            limits=Limits(memory_mib=1024),
            worker_options={"bindings": [*js_bindings(specs), {"name": "PROGRESS", "type": "rpc"}]},
        ) as pool:
            tracemalloc.start()
            try:
                put = await pool.call(
                    "callExport", {"name": "big", "key": "put", "args": [{"key": "big", "mib": SIZE_MIB}]}
                )
                _, host_peak_put = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                got = await pool.call("callExport", {"name": "big", "key": "get", "args": [{"key": "big"}]})
                _, host_peak_get = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        await host.close()
        await bindings.close()

    assert (put["size"], put["etag"]) == (SIZE_MIB * MIB, expected_etag())
    assert put["mostBehind"] <= 3 * MIB, f"the emulator fell {put['mostBehind'] / MIB:.1f} MiB behind the producer"
    assert (got["total"], got["size"], got["wrong"]) == (SIZE_MIB * MIB, SIZE_MIB * MIB, 0)
    assert got["chunks"] >= SIZE_MIB
    assert got["mostAhead"] <= 2 * MIB, f"the emulator sent {got['mostAhead'] / MIB:.1f} MiB ahead of the reader"
    assert crossed["written"] == crossed["read"] == SIZE_MIB * MIB
    assert crossed["largest"] <= MIB + 4096, "no bridge message carries more than a chunk"
    assert host_peak_put < 8 * MIB, f"the emulator held {host_peak_put / MIB:.1f} MiB during the put"
    assert host_peak_get < 8 * MIB, f"the emulator held {host_peak_get / MIB:.1f} MiB during the get"
