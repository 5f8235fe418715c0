"""The stream table: readers JS pulls from and uploads JS pushes into (emulator/runtime/env/streams.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bindings import BindingError
from emulator.runtime.env import streams
from emulator.runtime.env.streams import StreamTable


class Chunks:
    """An async iterator that records whether it was closed."""

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = list(chunks)
        self.closed = False

    def __aiter__(self) -> Chunks:
        return self

    async def __anext__(self) -> bytes:
        if not self._chunks:
            raise StopAsyncIteration
        return self._chunks.pop(0)

    async def aclose(self) -> None:
        self.closed = True


async def test_a_reader_gives_one_chunk_per_read_then_an_empty_end() -> None:
    table = StreamTable()
    chunks = Chunks(b"ab", b"c")
    ident = table.open(chunks)
    assert [await table.serve("read", {"s": ident}) for _ in range(4)] == [
        (None, b"ab"),
        (None, b"c"),
        (None, b""),
        (None, b""),
    ]
    assert chunks.closed


async def test_closing_a_reader_early_closes_its_source() -> None:
    table = StreamTable()
    chunks = Chunks(b"ab", b"c")
    ident = table.open(chunks)
    await table.serve("read", {"s": ident})
    await table.serve("close", {"s": ident})
    assert chunks.closed
    assert await table.serve("read", {"s": ident}) == (None, b"")


async def collect(chunks: AsyncIterator[bytes]) -> tuple[Any, bytes]:
    received = [chunk async for chunk in chunks]
    return {"chunks": len(received)}, b"".join(received)


async def test_an_upload_hands_each_chunk_to_its_consumer_and_finish_answers_its_result() -> None:
    table = StreamTable()
    ident = table.open_upload(collect)
    for chunk in (b"one ", b"two ", b"", b"three"):
        assert await table.serve("write", {"u": ident}, chunk) == (None, b"")
    assert await table.serve("finish", {"u": ident}) == ({"chunks": 3}, b"one two three")
    with pytest.raises(BindingError, match="already finished or aborted"):
        await table.serve("write", {"u": ident}, b"late")


async def test_a_write_waits_until_the_consumer_took_the_chunk_before() -> None:
    table = StreamTable()
    taken: list[bytes] = []
    gate = asyncio.Event()

    async def slow(chunks: AsyncIterator[bytes]) -> tuple[Any, bytes]:
        async for chunk in chunks:
            taken.append(chunk)
            await gate.wait()
        return None, b""

    ident = table.open_upload(slow)
    await table.serve("write", {"u": ident}, b"1")  # taken at once
    await table.serve("write", {"u": ident}, b"2")  # queued while the consumer is busy with 1
    third = asyncio.ensure_future(table.serve("write", {"u": ident}, b"3"))
    await asyncio.sleep(0.01)
    assert not third.done(), "a third chunk waits: at most one is held for the consumer"
    assert taken == [b"1"]
    gate.set()
    await third
    await table.serve("finish", {"u": ident})
    assert taken == [b"1", b"2", b"3"]


async def test_a_failed_consumer_fails_the_next_write_with_its_own_error() -> None:
    table = StreamTable()

    async def refuses(chunks: AsyncIterator[bytes]) -> tuple[Any, bytes]:
        raise BindingError("put: The specified object name is not valid. (10020)")

    ident = table.open_upload(refuses)
    await asyncio.sleep(0)  # the consumer starts while JS is told the id
    with pytest.raises(BindingError, match=r"^put: The specified object name is not valid\. \(10020\)$"):
        await table.serve("write", {"u": ident}, b"data")
    assert await table.serve("abort", {"u": ident}) == (None, b""), "aborting after the failure is harmless"


async def test_abort_cancels_the_consumer() -> None:
    table = StreamTable()
    cancelled = asyncio.Event()

    async def waits(chunks: AsyncIterator[bytes]) -> tuple[Any, bytes]:
        try:
            async for _ in chunks:
                pass
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None, b""

    ident = table.open_upload(waits)
    await table.serve("write", {"u": ident}, b"part")
    await table.serve("abort", {"u": ident})
    assert cancelled.is_set()


async def test_idle_entries_are_closed_when_the_next_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    table = StreamTable()
    forgotten = Chunks(b"never read")
    ident = table.open(forgotten)
    monkeypatch.setattr(streams, "IDLE_S", 0.0)
    await asyncio.sleep(0.01)
    table.open(Chunks())
    await asyncio.sleep(0.01)
    assert forgotten.closed
    assert await table.serve("read", {"s": ident}) == (None, b"")
    await table.close()
