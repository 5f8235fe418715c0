"""The JS runtime's KV calls (``js/bindings/kv.js``), served by ``bindings.kv.KVNamespace``.

JS has already done what workerd does in JS terms (argument coercion to strings and 32-bit integers, the
value's type, the response type); everything else is checked in ``bindings.kv``. Values cross as bytes: put
bodies arrive as the body, values leave as the body, and bulk values leave as one body of UTF-8 texts whose
lengths the JSON part gives. Metadata crosses as JSON text, so what JS stringified is what is measured and
stored, and what it parses back is what it stored.

Operations (arguments → JSON result, body):
    get       {key, cacheTtl?, stream?}        → null | {m: metadata JSON|null, s?: stream id}, value
    getBulk   {keys, type?, cacheTtl?}         → {k: [key…], v: [null | [byte length, metadata JSON|null]…]}, texts
    put       {key, expiration?, expirationTtl?, metadata?: JSON text}, value → null
    delete    {key}                            → null
    list      {limit?, prefix?, cursor?}       → {keys: [[name, expiration|null, metadata JSON|null]…], cursor|null}
    checkKey  {key, method}                    → null (workerd's key check, for JS's own errors that come after it)
"""

from __future__ import annotations

from typing import Any

from bindings import BindingError
from bindings.kv import KVNamespace, RawJSON
from bindings.kv.validate import validate_key, well_formed
from emulator.runtime.env.streams import StreamTable

# A "stream" value up to this size travels in the reply, and JS wraps it in a stream: one round trip, not three.
INLINE_STREAM_BYTES = 1 << 20


async def serve(
    binding: KVNamespace, operation: str, arguments: dict[str, Any], body: bytes, streams: StreamTable
) -> tuple[Any, bytes]:
    match operation:
        case "get":
            return await _get(binding, arguments, streams)
        case "getBulk":
            return await _get_bulk(binding, arguments)
        case "put":
            metadata = arguments.get("metadata")
            await binding.put(
                arguments["key"],
                body,
                expiration=_int(arguments.get("expiration")),
                expiration_ttl=_int(arguments.get("expirationTtl")),
                metadata=None if metadata is None else RawJSON(metadata),
            )
            return None, b""
        case "delete":
            await binding.delete(arguments["key"])
            return None, b""
        case "list":
            page = await binding.list(
                prefix=arguments.get("prefix"), limit=_int(arguments.get("limit")), cursor=arguments.get("cursor")
            )
            keys = [[key.name, key.expiration, key.metadata_json] for key in page.keys]
            return {"keys": keys, "cursor": page.cursor}, b""
        case "checkKey":
            validate_key(well_formed(arguments["key"]), arguments["method"], binding.limits)
            return None, b""
    raise BindingError(f"KVNamespace has no operation {operation!r}")


async def _get(binding: KVNamespace, arguments: dict[str, Any], streams: StreamTable) -> tuple[Any, bytes]:
    key, cache_ttl = arguments["key"], _int(arguments.get("cacheTtl"))
    if not arguments.get("stream"):
        entry = await binding.get(key, cache_ttl=cache_ttl)
        return (None, b"") if entry is None else ({"m": entry.metadata_json}, entry.value)
    found = await binding.get_stream(key, cache_ttl=cache_ttl)
    if found is None:
        return None, b""
    if found.size > INLINE_STREAM_BYTES:
        return {"m": found.metadata_json, "s": streams.open(found.chunks), "n": found.size}, b""
    try:
        value = b"".join([chunk async for chunk in found.chunks])
    finally:
        await found.chunks.aclose()
    return {"m": found.metadata_json}, value


async def _get_bulk(binding: KVNamespace, arguments: dict[str, Any]) -> tuple[Any, bytes]:
    found = await binding.get_bulk(
        arguments["keys"], value_type=arguments.get("type"), cache_ttl=_int(arguments.get("cacheTtl"))
    )
    texts: list[bytes] = []
    values: list[list[Any] | None] = []
    for value in found.values():
        if value is None:
            values.append(None)
            continue
        text = value.text.encode("utf-8")
        texts.append(text)
        values.append([len(text), value.metadata_json])
    return {"k": list(found), "v": values}, b"".join(texts)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
