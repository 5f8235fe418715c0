"""Bodies too large for one reply, in both directions: readers JS pulls from, and uploads JS pushes into.

Readers: a binding operation that returns a large body (an R2 object, a KV stream) registers an async
iterator here and hands JS its id; JS reads with ``{o: "read", a: {s: id}}`` (an empty reply is the end) and
may ``close`` early. Each read returns one chunk, so JS's demand is the flow control and nothing is read
ahead.

Uploads: an operation that takes a large body (an R2 put of a stream) registers a consumer, a coroutine
that takes the body as an async iterator of chunks, and hands JS its id. The consumer starts at once, so it
can fail before any byte is sent (a key too long). JS sends ``write`` ``{u: id}`` with one chunk as the
call's body, then ``finish``, whose reply is the consumer's result, or ``abort``. A write returns once the
consumer has taken the chunk before it, so at most a chunk or two is ever held here. A write after the
consumer failed raises the consumer's error, which is what the operation answers.

Entries nobody has touched for ``IDLE_S`` (a worker that died, a body a handler never read) are closed when
the next one opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from bindings import BindingError

MAX_OPEN_STREAMS = 1024
IDLE_S = 300.0

Consumer = Callable[[AsyncIterator[bytes]], Coroutine[Any, Any, tuple[Any, bytes]]]


class _Upload:
    """One body JS pushes: a one-chunk handoff to the consumer task."""

    def __init__(self, consume: Consumer) -> None:
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
        self.task: asyncio.Task[tuple[Any, bytes]] = asyncio.create_task(
            consume(self._receive()), name="outbound-binding-upload"
        )

    async def _receive(self) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) is not None:
            yield chunk

    async def push(self, chunk: bytes | None) -> None:
        """Hand over a chunk (None: the end) once the consumer took the previous one, or fail as it failed."""
        if self.task.done():
            self.task.result()  # the consumer's error
            raise BindingError("the operation finished before its body was complete")
        handoff = asyncio.ensure_future(self._chunks.put(chunk))
        await asyncio.wait({handoff, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if handoff.done():
            return
        handoff.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await handoff
        self.task.result()  # the consumer's error
        raise BindingError("the operation finished before its body was complete")

    async def abort(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


class StreamTable:
    def __init__(self) -> None:
        self._open: dict[int, AsyncIterator[bytes] | _Upload] = {}
        self._touched: dict[int, float] = {}
        self._next = 0

    # -- opening -----------------------------------------------------------------------------------------
    def open(self, chunks: AsyncIterator[bytes]) -> int:
        """Register a reader; returns the id JS reads with."""
        return self._add(chunks)

    def open_upload(self, consume: Consumer) -> int:
        """Start ``consume`` on a body JS will push; returns the id JS writes with."""
        return self._add(_Upload(consume))

    def _add(self, entry: AsyncIterator[bytes] | _Upload) -> int:
        self._expire()
        if len(self._open) >= MAX_OPEN_STREAMS:
            if isinstance(entry, _Upload):
                entry.task.cancel()
            raise BindingError(f"too many open binding bodies ({MAX_OPEN_STREAMS}); read or cancel them")
        self._next += 1
        self._open[self._next] = entry
        self._touched[self._next] = time.monotonic()
        return self._next

    def _expire(self) -> None:
        deadline = time.monotonic() - IDLE_S
        for ident in [i for i, touched in self._touched.items() if touched < deadline]:
            entry = self._open.pop(ident, None)
            self._touched.pop(ident, None)
            if entry is not None:
                task = asyncio.ensure_future(_discard(entry))
                _background.add(task)
                task.add_done_callback(_background.discard)

    # -- serving JS --------------------------------------------------------------------------------------
    async def serve(self, operation: str, arguments: dict[str, Any], body: bytes = b"") -> tuple[Any, bytes]:
        """``read``/``close`` a reader (``{s}``); ``write``/``finish``/``abort`` an upload (``{u}``)."""
        if "u" in arguments:
            return await self._serve_upload(operation, int(arguments["u"]), body)
        ident = int(arguments["s"])
        if operation == "close":
            await self._close(ident)
            return None, b""
        chunks = self._open.get(ident)
        if chunks is None or isinstance(chunks, _Upload):
            return None, b""
        self._touched[ident] = time.monotonic()
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            await self._close(ident)
            return None, b""
        except BaseException:
            await self._close(ident)
            raise
        return None, chunk

    async def _serve_upload(self, operation: str, ident: int, body: bytes) -> tuple[Any, bytes]:
        upload = self._open.get(ident)
        if not isinstance(upload, _Upload):
            if operation == "abort":
                return None, b""
            raise BindingError("this body was already finished or aborted")
        self._touched[ident] = time.monotonic()
        if operation == "abort":
            await self._close(ident)
            return None, b""
        try:
            if operation == "write":
                if body:
                    await upload.push(body)
                return None, b""
            if operation == "finish":
                await upload.push(None)
                result: tuple[Any, bytes] = await upload.task
                self._forget(ident)
                return result
        except BaseException:
            await self._close(ident)
            raise
        raise BindingError(f"unknown body operation {operation!r}")

    # -- closing -----------------------------------------------------------------------------------------
    def _forget(self, ident: int) -> AsyncIterator[bytes] | _Upload | None:
        self._touched.pop(ident, None)
        return self._open.pop(ident, None)

    async def _close(self, ident: int) -> None:
        entry = self._forget(ident)
        if entry is not None:
            await _discard(entry)

    async def close(self) -> None:
        for ident in list(self._open):
            await self._close(ident)


_background: set[asyncio.Future[None]] = set()


async def _discard(entry: AsyncIterator[bytes] | _Upload) -> None:
    if isinstance(entry, _Upload):
        await entry.abort()
        return
    with contextlib.suppress(Exception):
        await entry.aclose()  # type: ignore[attr-defined]
