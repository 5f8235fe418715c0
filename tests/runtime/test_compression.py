"""Compression in the JS runtime: ``Codecs`` (host/compression.py) against Python's gzip and zlib modules,
and CompressionStream / DecompressionStream in a real worker process: their output is what Python's modules
read, Python's output is what they read, and no zlib handle outlives its stream.

The JS-side behaviour (workerd's messages, stream semantics) is in tests/webapi/compression.test.js.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import zlib
from collections.abc import AsyncIterator, Callable

import pytest

from emulator.runtime.bundle import build_handler, build_runtime
from emulator.runtime.host.compression import (
    DECOMPRESSION_FAILED,
    INCOMPLETE_DATA,
    MAX_OPEN_CODECS,
    TRAILING_BYTES,
    Codecs,
    CorruptStream,
    TooManyCodecs,
)
from emulator.runtime.pool import EnginePool, HandlerException, Limits

GZIP, DEFLATE, DEFLATE_RAW = 0, 1, 2
COMPRESS, DECOMPRESS = 0, 1


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(data) + packer.flush()


# format -> (Python's compressor, Python's decompressor)
PYTHON: dict[int, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    GZIP: (lambda data: gzip.compress(data, mtime=0), gzip.decompress),
    DEFLATE: (zlib.compress, zlib.decompress),
    DEFLATE_RAW: (_raw_deflate, lambda data: zlib.decompress(data, wbits=-15)),
}
FORMAT_NAMES = {GZIP: "gzip", DEFLATE: "deflate", DEFLATE_RAW: "deflate-raw"}

SAMPLE = os.urandom(50_000) + b"outbound " * 20_000


def pattern(size: int) -> bytes:
    """The bytes the test handler's pattern(size) makes: compressible, but not trivially."""
    return bytes((i * 31 + (i >> 9)) & 0xFF for i in range(size))


# --- Codecs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [GZIP, DEFLATE, DEFLATE_RAW])
def test_codecs_output_is_read_by_pythons_modules(fmt: int) -> None:
    codecs = Codecs()
    handle = codecs.open(COMPRESS, fmt)
    pieces = [codecs.write(handle, SAMPLE[i : i + 4096]) for i in range(0, len(SAMPLE), 4096)]
    pieces.append(codecs.close(handle))
    assert PYTHON[fmt][1](b"".join(pieces)) == SAMPLE
    assert len(codecs) == 0


@pytest.mark.parametrize("fmt", [GZIP, DEFLATE, DEFLATE_RAW])
def test_codecs_read_pythons_output_in_small_writes(fmt: int) -> None:
    packed = PYTHON[fmt][0](SAMPLE)
    codecs = Codecs()
    handle = codecs.open(DECOMPRESS, fmt)
    pieces = [codecs.write(handle, packed[i : i + 1000]) for i in range(0, len(packed), 1000)]
    assert sum(map(len, pieces)) > 0, "output comes out as input goes in, not only at close"
    pieces.append(codecs.close(handle))
    assert b"".join(pieces) == SAMPLE


def test_gzip_header_is_zlibs_as_in_workerd() -> None:
    codecs = Codecs()
    handle = codecs.open(COMPRESS, GZIP)
    packed = codecs.write(handle, b"x") + codecs.close(handle)
    # magic, deflate, no flags, mtime 0, no extra flags, OS unix: what zlib's deflateInit2(…, 31, …) writes
    assert packed[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"


@pytest.mark.parametrize(
    ("name", "feed", "message"),
    [
        ("not compressed at all", [b"plain text, no gzip here"], DECOMPRESSION_FAILED),
        ("trailing garbage", [gzip.compress(b"data") + b"\x00"], TRAILING_BYTES),
        ("two gzip members", [gzip.compress(b"a") + gzip.compress(b"b")], TRAILING_BYTES),
        ("trailing garbage in a later write", [gzip.compress(b"data"), b"junk"], TRAILING_BYTES),
    ],
)
def test_bad_input_fails_the_write_and_releases_the_handle(name: str, feed: list[bytes], message: str) -> None:
    codecs = Codecs()
    handle = codecs.open(DECOMPRESS, GZIP)
    with pytest.raises(CorruptStream) as raised:
        for data in feed:
            codecs.write(handle, data)
    assert str(raised.value) == message, name
    assert len(codecs) == 0
    with pytest.raises(ValueError, match=f"no open zlib stream has handle {handle}"):
        codecs.close(handle)


@pytest.mark.parametrize("feed", [gzip.compress(b"complete me")[:-4], b""], ids=["truncated", "empty"])
def test_close_before_the_end_is_incomplete_and_releases_the_handle(feed: bytes) -> None:
    codecs = Codecs()
    handle = codecs.open(DECOMPRESS, GZIP)
    codecs.write(handle, feed)
    with pytest.raises(CorruptStream) as raised:
        codecs.close(handle)
    assert str(raised.value) == INCOMPLETE_DATA
    assert len(codecs) == 0


def test_the_table_is_bounded_asks_for_a_collection_and_frees_up_on_close() -> None:
    collections: list[int] = []
    codecs = Codecs(limit=3, on_full=lambda: collections.append(len(codecs)))
    handles = [codecs.open(COMPRESS, GZIP) for _ in range(3)]
    assert collections == []
    with pytest.raises(TooManyCodecs, match="3 CompressionStream/DecompressionStream objects are already open"):
        codecs.open(DECOMPRESS, DEFLATE)
    assert collections == [3]
    codecs.close(handles[0])
    assert codecs.open(DECOMPRESS, DEFLATE) not in handles, "handles are never reused"


def test_unknown_mode_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="no zlib stream of mode 0 and format 3"):
        Codecs().open(COMPRESS, 3)


# --- CompressionStream / DecompressionStream in a worker -----------------------------------------------

HANDLER = """
const CHUNK = 64 * 1024;

function pattern(size) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 9)) & 0xff;
  return out;
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function chunked(bytes) {
  let offset = 0;
  return new ReadableStream({
    pull(c) {
      if (offset >= bytes.length) return c.close();
      c.enqueue(bytes.slice(offset, offset + CHUNK));
      offset += CHUNK;
    },
  });
}

async function settle(promise) {
  try { await promise; } catch {}
}

// Each way a stream can end; every one must give its zlib handle back.
const ENDINGS = {
  async finished(format) {
    await new Response(chunked(pattern(1000)).pipeThrough(new CompressionStream(format))).arrayBuffer();
  },
  async cancelled(format) {
    const cs = new CompressionStream(format);
    await cs.writable.getWriter().write(pattern(1000));
    await cs.readable.cancel("done with it");
  },
  async aborted(format) {
    const ds = new DecompressionStream(format);
    const writer = ds.writable.getWriter();
    await writer.write(new Uint8Array([0x1f, 0x8b, 8, 0]));
    await writer.abort("stop");
  },
  async corrupt(format) {
    await settle(new Response(chunked(pattern(100)).pipeThrough(new DecompressionStream(format))).arrayBuffer());
  },
  async truncated(format) {
    const packed = new Uint8Array(await new Response(chunked(pattern(5000)).pipeThrough(new CompressionStream(format))).arrayBuffer());
    await settle(new Response(chunked(packed.slice(0, -8)).pipeThrough(new DecompressionStream(format))).arrayBuffer());
  },
  async pipeAborted(format) {
    const controller = new AbortController();
    const cs = new CompressionStream(format);
    const piped = new ReadableStream({ pull: (c) => c.enqueue(pattern(100)) }).pipeTo(cs.writable, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 1));
    controller.abort();
    await settle(piped);
  },
};

export const api = {
  async compress(format, size) {
    return toBase64(new Uint8Array(await new Response(chunked(pattern(size)).pipeThrough(new CompressionStream(format))).arrayBuffer()));
  },
  async decompress(format, packed) {
    return toBase64(new Uint8Array(await new Response(chunked(fromBase64(packed)).pipeThrough(new DecompressionStream(format))).arrayBuffer()));
  },
  async roundTrip(size) {
    const out = chunked(pattern(size)).pipeThrough(new CompressionStream("gzip")).pipeThrough(new DecompressionStream("gzip"));
    let total = 0;
    for await (const chunk of out) total += chunk.byteLength;
    return total;
  },
  async end(how, rounds) {
    for (let i = 0; i < rounds; i++) await ENDINGS[how]("gzip");
    return rounds;
  },
  // Drops `count` streams that still hold a handle (the table is then full), then opens one more.
  async abandon(count) {
    const header = new Uint8Array([0x1f, 0x8b, 8, 0]);
    for (let i = 0; i < count; i++) await new DecompressionStream("gzip").writable.getWriter().write(header);
    const ds = new DecompressionStream("gzip");
    await ds.writable.getWriter().write(header);
    await ds.readable.cancel();
    return true;
  },
  // Holds `count` streams open at once (each has written, so each has a handle), then releases them.
  async hold(count) {
    const held = [];
    try {
      for (let i = 0; i < count; i++) {
        const cs = new CompressionStream("deflate");
        await cs.writable.getWriter().write(pattern(10));
        held.push(cs);
      }
      return held.length;
    } finally {
      for (const cs of held) await cs.readable.cancel();
    }
  },
};
"""


@pytest.fixture(scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EnginePool]:
    root = tmp_path_factory.mktemp("compression")
    entry = root / "handler.js"
    entry.write_text(HANDLER)
    runtime = await build_runtime(root / "out")
    bundle = await build_handler(entry, root, root / "out")
    async with EnginePool(
        runtime_path=runtime, bundle_path=bundle.path, env={}, size=1, limits=Limits(cpu_ms=10_000)
    ) as engines:
        yield engines


async def call(pool: EnginePool, key: str, *args: object) -> object:
    return await asyncio.wait_for(pool.call("callExport", {"name": "api", "key": key, "args": list(args)}), 20)


@pytest.mark.parametrize("fmt", [GZIP, DEFLATE, DEFLATE_RAW])
async def test_compressed_by_a_handler_read_by_python(pool: EnginePool, fmt: int) -> None:
    packed = base64.b64decode(str(await call(pool, "compress", FORMAT_NAMES[fmt], 300_000)))
    assert PYTHON[fmt][1](packed) == pattern(300_000)


@pytest.mark.parametrize("fmt", [GZIP, DEFLATE, DEFLATE_RAW])
async def test_compressed_by_python_read_by_a_handler(pool: EnginePool, fmt: int) -> None:
    packed = base64.b64encode(PYTHON[fmt][0](SAMPLE)).decode()
    assert base64.b64decode(str(await call(pool, "decompress", FORMAT_NAMES[fmt], packed))) == SAMPLE


async def test_8_mib_streams_through_in_64_kib_chunks_within_the_memory_limit(pool: EnginePool) -> None:
    size = 8 * 1024 * 1024
    before = pool.stats()["workers"][0]["rss"]
    assert await call(pool, "roundTrip", size) == size
    grown_mib = (pool.stats()["workers"][0]["rss"] - before) / 2**20
    # One round leaves ~50 MiB of garbage (the 8 MiB input, its chunks, the output and Python's copies), which
    # SpiderMonkey collects lazily; holding several copies of the data at once would go well past this.
    assert grown_mib < 80, f"the worker grew by {grown_mib:.0f} MiB"


@pytest.mark.parametrize("how", ["finished", "cancelled", "aborted", "corrupt", "truncated", "pipeAborted"])
async def test_every_ending_gives_the_zlib_handle_back(pool: EnginePool, how: str) -> None:
    # More rounds than the table holds: one handle kept per round would run out before the end.
    rounds = MAX_OPEN_CODECS + 5
    assert await call(pool, "end", how, rounds) == rounds


async def test_streams_dropped_unfinished_give_their_handles_back_when_collected(pool: EnginePool) -> None:
    # The full table runs the collector; the dropped streams' FinalizationRegistry entries free their handles.
    assert await call(pool, "abandon", MAX_OPEN_CODECS) is True


async def test_too_many_open_streams_is_a_clear_error_that_clears(pool: EnginePool) -> None:
    with pytest.raises(HandlerException) as raised:
        await call(pool, "hold", MAX_OPEN_CODECS + 1)
    assert str(raised.value) == (
        f"Error: {MAX_OPEN_CODECS} CompressionStream/DecompressionStream objects are already open in this worker; "
        "read each one to its end or cancel it"
    )
    assert await call(pool, "hold", MAX_OPEN_CODECS) == MAX_OPEN_CODECS
