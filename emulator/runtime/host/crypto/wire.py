"""The ``host.crypto`` wire format, and ``fail``: how every check in this package becomes an error reply.

Both ways ``bridge.pack_meta``: length-prefixed JSON, then raw bytes::

    request  {"op": "sign", "parts": [n0, n1, ...], ...}            part bytes, concatenated
    reply    {"ok": <result>, "parts": [n0, ...]}                   part bytes, concatenated
             {"error": {"name": "DataError", "message": "..."}}     (never an exception)

Where a request refers to extra buffers (an IV, a salt, a public exponent) its JSON holds their part index.
A check that fails raises ``WebCryptoError`` through ``fail``; ``run`` (``__init__.py``) replies with it.
"""

from __future__ import annotations

from typing import Any, NoReturn

from emulator.runtime.bridge import pack_meta, unpack_meta

Parts = list[bytes]


class WebCryptoError(Exception):
    """A failure JS raises as ``name`` (a DOMException name, TypeError or RangeError) with workerd's text."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def fail(name: str, message: str) -> NoReturn:
    raise WebCryptoError(name, message)


def required(algorithm: dict[str, Any], field: str, where: str = "algorithm") -> Any:
    value = algorithm.get(field)
    if value is None:
        fail("TypeError", f'Missing field "{field}" in "{where}".')
    return value


def read_request(payload: bytes) -> tuple[dict[str, Any], Parts]:
    """The request's JSON, and its parts cut from the bytes after it by the lengths it lists."""
    meta, body = unpack_meta(payload)
    parts, offset = [], 0
    for length in meta.get("parts", []):
        parts.append(body[offset : offset + length])
        offset += length
    return meta, parts


def ok_reply(result: Any, out: Parts) -> bytes:
    return pack_meta({"ok": result, "parts": [len(p) for p in out]}, b"".join(out))


def error_reply(name: str, message: str) -> bytes:
    return pack_meta({"error": {"name": name, "message": message}})
