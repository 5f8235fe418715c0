"""emulator/runtime/env/kv.py: the wire shapes js/bindings/kv.js relies on, and large "stream" values, which the
JS suite (tests/bindings/kv.test.js, values scaled to 1 KiB) cannot reach."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from bindings import BindingError, FakeClock
from bindings.kv import KVNamespace
from emulator.runtime.env import kv as adapter
from emulator.runtime.env.streams import StreamTable


@pytest.fixture
async def kv() -> AsyncIterator[KVNamespace]:
    namespace = await KVNamespace.open(None, clock=FakeClock(1_000_000))
    yield namespace
    await namespace.close()


async def serve(
    kv: KVNamespace, streams: StreamTable, operation: str, body: bytes = b"", **arguments: object
) -> tuple[object, bytes]:
    return await adapter.serve(kv, operation, dict(arguments), body, streams)


async def test_values_and_metadata_cross_as_given(kv: KVNamespace) -> None:
    streams = StreamTable()
    await serve(kv, streams, "put", b"\x00\xff", key="k", expirationTtl=60, metadata='{"a": 1}')
    assert await serve(kv, streams, "get", key="k") == ({"m": '{"a": 1}'}, b"\x00\xff")  # JSON text as JS made it
    assert await serve(kv, streams, "get", key="missing") == (None, b"")
    assert await serve(kv, streams, "list") == ({"keys": [["k", 1060, '{"a": 1}']], "cursor": None}, b"")
    assert await serve(kv, streams, "delete", key="k") == (None, b"")
    assert await serve(kv, streams, "list") == ({"keys": [], "cursor": None}, b"")


async def test_bulk_values_are_one_body_of_texts_with_their_lengths(kv: KVNamespace) -> None:
    streams = StreamTable()
    await serve(kv, streams, "put", "\u00e9t\u00e9".encode(), key="a", metadata="1")
    await serve(kv, streams, "put", b"\xef\xbb\xbfb\xff", key="b")  # BOM dropped, bad byte U+FFFD, as TextDecoder
    result = await serve(kv, streams, "getBulk", keys=["a", "missing", "b", "a"])
    assert result == (
        {"k": ["a", "missing", "b"], "v": [[5, "1"], None, [4, None]]},
        "\u00e9t\u00e9".encode() + "b\ufffd".encode(),
    )


async def test_a_large_stream_value_is_pulled_a_chunk_at_a_time(kv: KVNamespace) -> None:
    streams = StreamTable()
    value = os.urandom(adapter.INLINE_STREAM_BYTES + 5)
    await kv.put("big", value)
    meta, body = await serve(kv, streams, "get", key="big", stream=True)
    assert body == b"" and isinstance(meta, dict) and meta["m"] is None
    chunks = []
    while True:
        _, chunk = await streams.serve("read", {"s": meta["s"]})
        if not chunk:
            break
        chunks.append(chunk)
    assert len(chunks) == 2 and b"".join(chunks) == value
    await streams.close()


async def test_a_small_stream_value_comes_in_the_reply(kv: KVNamespace) -> None:
    streams = StreamTable()
    await kv.put("small", b"bytes")
    assert await serve(kv, streams, "get", key="small", stream=True) == ({"m": None}, b"bytes")


async def test_check_key_is_workerds_client_side_check(kv: KVNamespace) -> None:
    streams = StreamTable()
    assert await serve(kv, streams, "checkKey", key="fine", method="PUT") == (None, b"")
    with pytest.raises(BindingError) as caught:
        await serve(kv, streams, "checkKey", key="..", method="PUT")
    assert (caught.value.js_name, str(caught.value)) == ("TypeError", '".." is not allowed as a key name.')


async def test_an_unknown_operation_is_an_error(kv: KVNamespace) -> None:
    with pytest.raises(BindingError, match="KVNamespace has no operation 'deleteBulk'"):
        await serve(kv, StreamTable(), "deleteBulk", keys=["a"])
