"""Bodies too large to send in one reply: open readers (an R2 object, a KV stream) that JS pulls from.

A binding operation that returns a large body registers an async iterator here and hands JS its id; JS reads
with ``{o: "read", a: {s: id}}`` (an empty reply is the end) and may ``close`` early. Each read returns one
chunk, so JS's demand is the flow control and nothing is read ahead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bindings import BindingError

MAX_OPEN_STREAMS = 1024


class StreamTable:
    def __init__(self) -> None:
        self._open: dict[int, AsyncIterator[bytes]] = {}
        self._next = 0

    def open(self, chunks: AsyncIterator[bytes]) -> int:
        if len(self._open) >= MAX_OPEN_STREAMS:
            raise BindingError(f"too many open binding bodies ({MAX_OPEN_STREAMS}); read or cancel them")
        self._next += 1
        self._open[self._next] = chunks
        return self._next

    async def serve(self, operation: str, arguments: dict[str, Any]) -> tuple[Any, bytes]:
        ident = int(arguments["s"])
        if operation == "close":
            await self._close(ident)
            return None, b""
        chunks = self._open.get(ident)
        if chunks is None:
            return None, b""
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            await self._close(ident)
            return None, b""
        except BaseException:
            await self._close(ident)
            raise
        return None, chunk

    async def _close(self, ident: int) -> None:
        chunks = self._open.pop(ident, None)
        if chunks is not None:
            with contextlib.suppress(Exception):
                await chunks.aclose()  # type: ignore[attr-defined]

    async def close(self) -> None:
        for ident in list(self._open):
            await self._close(ident)
