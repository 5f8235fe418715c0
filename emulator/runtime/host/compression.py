"""CompressionStream / DecompressionStream for the JS runtime, done with zlib (see js/streams.js)."""

from __future__ import annotations


class Codecs:
    """Open zlib streams of one worker process, addressed by small integer handles."""

    def open(self, mode: int, fmt: int) -> int:
        raise NotImplementedError("CompressionStream is not implemented yet")

    def write(self, handle: int, data: bytes) -> bytes:
        raise NotImplementedError

    def close(self, handle: int) -> bytes:
        raise NotImplementedError
