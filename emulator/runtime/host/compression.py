"""CompressionStream / DecompressionStream for the JS runtime, done with zlib (see js/compression.js).

A worker process keeps its open zlib streams here, addressed by the integer handles JS holds; ``Host`` in
``worker.py`` exposes them as ``zlibOpen`` / ``zlibWrite`` / ``zlibClose``. Settings are workerd's
(src/workerd/api/streams/compression.c++): default level, memLevel 8, a 15-bit window with the gzip
wrapper, the zlib wrapper, or none. Decompression is strict, as workerd's is by default since 2023-08-01
(``strict_compression_checks``): bytes after the end of the compressed data, or a close before that end,
are errors. Errors carry workerd's messages, which js/compression.js turns into the TypeError a Worker sees.

A handle is gone after ``close`` (which JS also calls to release a cancelled, aborted or garbage-collected
stream) and after a write that failed. The table holds at most ``limit`` streams, so a handler that leaks
them fails with a clear error before it exhausts the worker's memory (a compressor holds ~270 KiB). A full
table first asks for a garbage collection: streams a handler dropped unfinished are released by a
FinalizationRegistry in js/compression.js, which then opens again once, a turn later.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

COMPRESS = 0
DECOMPRESS = 1
WINDOW_BITS = {0: 31, 1: 15, 2: -15}  # format 0 gzip, 1 deflate (zlib wrapper), 2 deflate-raw
MEM_LEVEL = 8

MAX_OPEN_CODECS = 256

# compression.c++, Context::pumpOnce (js/compression.js matches on these)
DECOMPRESSION_FAILED = "Decompression failed."
TRAILING_BYTES = "Trailing bytes after end of compressed data"
INCOMPLETE_DATA = "Called close() on a decompression stream with incomplete data"


class CorruptStream(ValueError):
    """Compressed input was invalid, went on past its end, or stopped before it; the stream is closed."""


class TooManyCodecs(RuntimeError):
    """The worker already holds ``limit`` open zlib streams."""


class _Compressor:
    def __init__(self, window_bits: int) -> None:
        self._zlib = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, window_bits, MEM_LEVEL)

    def write(self, data: bytes) -> bytes:
        return self._zlib.compress(data)

    def close(self) -> bytes:
        return self._zlib.flush(zlib.Z_FINISH)


class _Decompressor:
    def __init__(self, window_bits: int) -> None:
        self._zlib = zlib.decompressobj(window_bits)

    def write(self, data: bytes) -> bytes:
        try:
            out = self._zlib.decompress(data)
        except zlib.error as error:
            raise CorruptStream(DECOMPRESSION_FAILED) from error
        if self._zlib.unused_data:
            raise CorruptStream(TRAILING_BYTES)
        return out

    def close(self) -> bytes:
        try:
            out = self._zlib.flush()
        except zlib.error as error:
            raise CorruptStream(DECOMPRESSION_FAILED) from error
        if not self._zlib.eof:
            raise CorruptStream(INCOMPLETE_DATA)
        return out


def collect_js_garbage() -> None:
    """Run SpiderMonkey's collector, so that FinalizationRegistry callbacks for dropped streams get queued."""
    import pythonmonkey  # only in a worker process, where it is already loaded

    pythonmonkey.collect()


class Codecs:
    """Open zlib streams of one worker process, addressed by small integer handles."""

    def __init__(self, limit: int = MAX_OPEN_CODECS, on_full: Callable[[], None] = collect_js_garbage) -> None:
        self._limit = limit
        self._on_full = on_full
        self._open: dict[int, _Compressor | _Decompressor] = {}
        self._last_handle = 0

    def __len__(self) -> int:
        return len(self._open)

    def open(self, mode: int, fmt: int) -> int:
        """Start a stream: mode 0 compresses, 1 decompresses; format 0 gzip, 1 deflate, 2 deflate-raw."""
        if mode not in (COMPRESS, DECOMPRESS) or fmt not in WINDOW_BITS:
            raise ValueError(f"no zlib stream of mode {mode} and format {fmt}")
        if len(self._open) >= self._limit:
            self._on_full()
            raise TooManyCodecs(
                f"{self._limit} CompressionStream/DecompressionStream objects are already open in this worker; "
                "read each one to its end or cancel it"
            )
        codec = _Compressor(WINDOW_BITS[fmt]) if mode == COMPRESS else _Decompressor(WINDOW_BITS[fmt])
        self._last_handle += 1
        self._open[self._last_handle] = codec
        return self._last_handle

    def write(self, handle: int, data: bytes) -> bytes:
        """Feed ``data``; returns the output produced so far (often none while compressing)."""
        codec = self._get(handle)
        try:
            return codec.write(data)
        except CorruptStream:
            del self._open[handle]
            raise

    def close(self, handle: int) -> bytes:
        """End the stream and release its handle; returns the rest of the output."""
        codec = self._get(handle)
        del self._open[handle]
        return codec.close()

    def _get(self, handle: int) -> _Compressor | _Decompressor:
        try:
            return self._open[handle]
        except KeyError:
            raise ValueError(f"no open zlib stream has handle {handle}") from None
