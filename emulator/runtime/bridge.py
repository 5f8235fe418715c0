"""The wire between the emulator and its JS worker processes.

Every message is one frame: a 9-byte header (payload length, kind, id) and a payload of bytes. Nothing but
bytes crosses into SpiderMonkey (runtime-notes §1.7: every Python ``str`` handed to JS is kept in a map that
pythonmonkey 1.4.1 scans linearly on each GC, which froze a proxy after ~24k requests), so structured parts
travel as UTF-8 JSON inside the payload and JS decodes them itself.

A request's life on the wire::

    parent                         worker
      REQUEST id  meta+body   -->
                              <--  HEAD id   meta (+ body when "end" is true)
                              <--  DATA id   chunk         (only when the body streams)
      CREDIT id   n bytes     -->                          (the parent consumed n bytes)
                              <--  END id    trailer meta
      CANCEL id               -->                          (the client went away)

A binding call (``env.KV.get(…)``) goes the other way: the worker sends ``RPC`` and the emulator, which owns
the stores, answers ``RPC_RESULT`` with the same id.

``LOG`` frames carry ``console.*`` output tagged with the request id that produced it; ``BEAT`` frames say
the worker's event loop is still turning while requests are in flight (a handler spinning in ``while(true)``
stops them, and the pool kills the worker).
"""

from __future__ import annotations

import enum
import json
import struct
from typing import Any

HEADER = struct.Struct("<IBI")

# The file name the worker evaluates the user's bundle under: stack frames name it, source maps translate it.
BUNDLE_FILENAME = "outbound:bundle.js"
META_LENGTH = struct.Struct("<I")

# The most body bytes a worker may send for one response before the parent acknowledges them. Large enough
# that a typical response never waits, small enough that a slow client cannot make the worker buffer a download.
RESPONSE_WINDOW_BYTES = 1 << 20


class Kind(enum.IntEnum):
    """Frame kinds. Values are shared with ``js/bridge.js``; change both together."""

    INIT = 1  # parent → worker: JSON worker options (bundle paths, env, limits)
    READY = 2  # worker → parent: JSON manifest of the loaded module
    REQUEST = 3  # parent → worker: run a handler (meta + request body)
    HEAD = 4  # worker → parent: response status and headers (+ whole body when meta.end)
    DATA = 5  # worker → parent: a chunk of a streamed response body
    END = 6  # worker → parent: the streamed body is complete (meta may carry an error)
    ERROR = 7  # worker → parent: the handler failed before producing a response
    CREDIT = 8  # parent → worker: n more response bytes may be sent for this id
    CANCEL = 9  # parent → worker: the client disconnected; abort the request's signal
    CALL = 10  # parent → worker: call a named runtime function with JSON arguments
    RESULT = 11  # worker → parent: the JSON result (or error) of a CALL
    LOG = 12  # worker → parent: one console.* entry
    BEAT = 13  # worker → parent: the event loop is alive
    FATAL = 14  # worker → parent: the worker cannot continue (load failed); JSON error
    COLLECT = 15  # parent → worker: run SpiderMonkey's garbage collector now (memory is nearing the limit)
    RPC = 16  # worker → parent: a binding call (KV, R2, secrets) from JS; id is the worker's call id
    RPC_RESULT = 17  # parent → worker: the binding call's result
    LOAD = 18  # parent → worker: JSON bundle, env and bindings, for a worker started without them (a spare)
    ACCEPT = 19  # worker → parent: this request's handler starts now (sent before it runs, not batched)


def encode_frame(kind: Kind, ident: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(len(payload), kind, ident) + payload


def pack_meta(meta: Any, body: bytes = b"") -> bytes:
    """A payload of a length-prefixed JSON part followed by raw body bytes."""
    encoded = json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()
    return META_LENGTH.pack(len(encoded)) + encoded + body


def unpack_meta(payload: bytes) -> tuple[Any, bytes]:
    (length,) = META_LENGTH.unpack_from(payload)
    end = META_LENGTH.size + length
    return json.loads(payload[META_LENGTH.size : end]), payload[end:]


class FrameReader:
    """Splits a byte stream into frames; feed it whatever the socket gave."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[Kind, int, bytes]]:
        buffer = self._buffer
        buffer += data
        frames: list[tuple[Kind, int, bytes]] = []
        offset = 0
        size = HEADER.size
        while len(buffer) - offset >= size:
            length, kind, ident = HEADER.unpack_from(buffer, offset)
            end = offset + size + length
            if len(buffer) < end:
                break
            frames.append((Kind(kind), ident, bytes(buffer[offset + size : end])))
            offset = end
        if offset:
            del buffer[:offset]
        return frames
