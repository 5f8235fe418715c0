"""A JS worker process: one SpiderMonkey (pythonmonkey) running the Workers runtime and one user bundle.

The emulator starts these with ``python -m emulator.runtime.worker FD`` and talks to them over the socket FD
in frames (``bridge.py``). Handlers run here, never in the proxy's process, because pythonmonkey cannot be
interrupted, runs only on the thread that imported it, can crash the process, and leaks (runtime-notes §1):
a worker can be killed and replaced without the emulator noticing more than a failed request.

Python's part of the worker is small: frame I/O, the host functions the JS runtime calls (``Host``), and the
``contextvars`` variable that tells which request a ``console.log`` belongs to. asyncio copies the context
into every callback it schedules, and pythonmonkey schedules every promise job through asyncio, so the
request id set around ``dispatch`` follows that request's continuations, timers and fetches.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import importlib
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from emulator.runtime import leakfix
from emulator.runtime.bridge import (
    BUNDLE_FILENAME,
    RESPONSE_WINDOW_BYTES,
    FrameReader,
    Kind,
    encode_frame,
    pack_meta,
    unpack_meta,
)
from emulator.runtime.host import crypto as host_crypto
from emulator.runtime.host.compression import Codecs
from emulator.runtime.host.fetch import FetchHost

CURRENT_REQUEST: contextvars.ContextVar[int] = contextvars.ContextVar("outbound_request", default=0)

BEAT_INTERVAL_S = 0.1
# SpiderMonkey collects lazily: a worker moving bodies through the bridge leaves copies behind faster than its
# own heuristics reclaim them (a 64 MiB R2 put left ~3 MiB of garbage per MiB sent). Collecting after every
# this many bytes of traffic keeps a streaming handler far below the pool's memory limit.
COLLECT_EVERY_BYTES = 16 << 20
RUNTIME_FILENAME = "outbound:runtime.js"


class Host:
    """The functions ``js/host.js`` calls. Arguments and results are numbers and bytes only."""

    def __init__(self, channel: Channel, options: dict[str, Any]) -> None:
        self._channel = channel
        self.fetcher = FetchHost(options.get("upstream", {}))
        self.codecs = Codecs()
        self._loop = asyncio.get_running_loop()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self.fire_timer: Any = None  # set once the runtime is loaded

    def as_js_object(self) -> dict[str, Any]:
        return {
            "emit": self.emit,
            "drain": self.drain,
            "log": self.log,
            "timerSet": self.timer_set,
            "timerClear": self.timer_clear,
            "random": self.random,
            "crypto": self.crypto,
            "fetch": self.fetch,
            "fetchRead": self.fetch_read,
            "fetchCancel": self.fetch_cancel,
            "rpc": self.rpc,
            "zlibOpen": self.zlib_open,
            "zlibWrite": self.zlib_write,
            "zlibClose": self.zlib_close,
        }

    def emit(self, kind: float, ident: float, data: Any) -> float:
        # ``data`` is a memoryview into JS memory that does not keep it alive: copy before anything else runs.
        return float(self._channel.emit(Kind(int(kind)), int(ident), bytes(data)))

    def drain(self, ident: float) -> asyncio.Future[None]:
        return self._channel.wait_for_credit(int(ident))

    def log(self, level: float, message: Any) -> None:
        self._channel.send(Kind.LOG, CURRENT_REQUEST.get(), bytes([int(level)]) + bytes(message))

    def timer_set(self, ident: float, delay_ms: float) -> float:
        """Schedules JS timer ``ident``; returns the request that set it, or 0 (refused) in global scope.

        Workers has no timers outside a request (``Disallowed operation called within global scope``). A
        timer fires in the context it was set in (``call_later`` copies it), so its console output is tagged
        with its request.
        """
        request = CURRENT_REQUEST.get()
        if request == 0:
            return 0.0
        key = int(ident)
        self._timers[key] = self._loop.call_later(max(delay_ms, 0.0) / 1000, self._fire, key)
        return float(request)

    def timer_clear(self, ident: float) -> None:
        # Any request may clear any timer: a continuation can run in another request's context (see the
        # module docstring), and a timer that cannot be cleared would be worse than a lenient clear.
        handle = self._timers.pop(int(ident), None)
        if handle is not None:
            handle.cancel()

    def _fire(self, key: int) -> None:
        # Runs in the context the timer was set in (call_later copies it), so CURRENT_REQUEST is its request.
        if self._timers.pop(key, None) is not None:
            self.fire_timer(key)

    def random(self, count: float) -> bytes:
        return os.urandom(int(count))

    def crypto(self, payload: Any) -> asyncio.Task[bytes]:
        return asyncio.ensure_future(host_crypto.run(bytes(payload)))

    def fetch(self, payload: Any) -> asyncio.Task[bytes]:
        return asyncio.ensure_future(self.fetcher.fetch(bytes(payload)))

    def fetch_read(self, ident: float) -> asyncio.Task[bytes | None]:
        task = asyncio.ensure_future(self.fetcher.read(int(ident)))
        task.add_done_callback(self._count_read)
        return task

    def _count_read(self, task: asyncio.Task[bytes | None]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._channel.count(len(task.result() or b""))

    def fetch_cancel(self, ident: float) -> None:
        self.fetcher.cancel(int(ident))

    def rpc(self, payload: Any) -> asyncio.Future[bytes]:
        return self._channel.call_parent(bytes(payload))

    def zlib_open(self, mode: float, fmt: float) -> float:
        return float(self.codecs.open(int(mode), int(fmt)))

    def zlib_write(self, handle: float, data: Any) -> bytes:
        return self.codecs.write(int(handle), bytes(data))

    def zlib_close(self, handle: float) -> bytes:
        return self.codecs.close(int(handle))


class Channel(asyncio.Protocol):
    """The worker's end of the socket: frames in, frames out, and per-response send windows."""

    def __init__(self) -> None:
        self._reader = FrameReader()
        self._transport: asyncio.Transport | None = None
        self._outgoing: list[bytes] = []
        self._calls: dict[int, asyncio.Future[bytes]] = {}
        self._next_call = 0
        self._traffic = 0
        self.collect: Any = None  # set once pythonmonkey is loaded
        self._windows: dict[int, int] = {}
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self.inflight = 0
        self.frames: asyncio.Queue[tuple[Kind, int, bytes]] = asyncio.Queue()
        self.on_frame: Any = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def count(self, size: int) -> None:
        """Account bytes that became JS garbage; collect when enough has passed."""
        self._traffic += size
        if self._traffic >= COLLECT_EVERY_BYTES and self.collect is not None:
            self._traffic = 0
            asyncio.get_running_loop().call_soon(self.collect)

    def data_received(self, data: bytes) -> None:
        self.count(len(data))
        for kind, ident, payload in self._reader.feed(data):
            if kind is Kind.CREDIT:
                self._credit(ident, int.from_bytes(payload, "little"))
            elif kind is Kind.RPC_RESULT:
                waiter = self._calls.pop(ident, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(payload)
            elif self.on_frame is not None:
                self.on_frame(kind, ident, payload)
            else:
                self.frames.put_nowait((kind, ident, payload))

    def send(self, kind: Kind, ident: int, payload: bytes = b"") -> None:
        # One write per turn of the event loop, whatever the number of frames (see pool.py, _Worker.send).
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(encode_frame(kind, ident, payload))

    def accept(self, ident: int) -> None:
        """Tell the parent, now rather than at the end of this turn, that ``ident``'s handler starts: if it then
        blocks the loop or crashes the process, the parent knows which requests never ran and may resend them."""
        self._outgoing.append(encode_frame(Kind.ACCEPT, ident))
        self._flush()

    def _flush(self) -> None:
        frames, self._outgoing = self._outgoing, []
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(frames))

    def emit(self, kind: Kind, ident: int, payload: bytes) -> int:
        """Send one frame produced by JS; returns how many more body bytes this response may send."""
        self.count(len(payload))
        self.send(kind, ident, payload)
        if kind is Kind.DATA:
            left = self._windows.get(ident, RESPONSE_WINDOW_BYTES) - len(payload)
            self._windows[ident] = left
            return left
        if kind is Kind.ERROR or kind is Kind.END or (kind is Kind.HEAD and _head_ends(payload)):
            self._finish(ident)
        return RESPONSE_WINDOW_BYTES

    def call_parent(self, payload: bytes) -> asyncio.Future[bytes]:
        """Send an RPC to the emulator; the future resolves with its RPC_RESULT payload."""
        self.count(len(payload))
        self._next_call = self._next_call % 0xFFFFFFFE + 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._calls[self._next_call] = future
        self.send(Kind.RPC, self._next_call, payload)
        return future

    def wait_for_credit(self, ident: int) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        if self._windows.get(ident, RESPONSE_WINDOW_BYTES) > 0:
            future.set_result(None)
        else:
            self._waiting[ident] = future
        return future

    def _credit(self, ident: int, amount: int) -> None:
        if ident not in self._windows:
            return
        self._windows[ident] += amount
        if self._windows[ident] > 0:
            waiter = self._waiting.pop(ident, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _finish(self, ident: int) -> None:
        self.inflight -= 1
        self._windows.pop(ident, None)
        waiter = self._waiting.pop(ident, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


_HEAD_ENDS = b',"end":true}'


def _head_ends(payload: bytes) -> bool:
    # A HEAD whose meta ends with "end":true carries the whole body (js/bridge.js puts that key last).
    end = 4 + int.from_bytes(payload[:4], "little")
    return payload[end - len(_HEAD_ENDS) : end] == _HEAD_ENDS


async def serve(fd: int) -> None:
    loop = asyncio.get_running_loop()
    leakfix.install(loop)
    sock = socket.socket(fileno=fd)
    _, channel = await loop.create_unix_connection(Channel, sock=sock)
    try:
        kind, payload = await _next_frame(channel)
    except ConnectionResetError:
        return  # the emulator went away before it said anything: nothing to serve
    if kind is not Kind.INIT:
        raise RuntimeError(f"expected INIT from the emulator, got {kind.name}")
    options = json.loads(payload)

    # Imported here, on the loop's thread; typed as Any because its stubs describe JS values as Python types.
    pm: Any = importlib.import_module("pythonmonkey")

    host = Host(channel, options)
    pm.globalThis["__outbound_host"] = host.as_js_object()
    pm.eval(Path(options["runtime"]).read_text(), {"filename": RUNTIME_FILENAME})
    runtime = pm.globalThis["__outbound_runtime"]
    pm.eval("delete globalThis.__outbound_runtime")
    host.fire_timer = runtime["fireTimer"]
    channel.collect = pm.collect
    loop.set_exception_handler(_uncaught_handler(channel))

    if "bundle" not in options:
        # A spare (runtime/standby.py): Python, pythonmonkey and the runtime are loaded ahead of need, so that a
        # reload waits only for its bundle to evaluate. The rest of the options come when a pool adopts it.
        try:
            kind, payload = await _next_frame(channel)
        except ConnectionResetError:
            return  # a spare the emulator never adopted: it stopped, or was killed before it could say so
        if kind is not Kind.LOAD:
            raise RuntimeError(f"expected LOAD from the emulator, got {kind.name}")
        options.update(json.loads(payload))

    try:
        pm.eval(Path(options["bundle"]).read_text(), {"filename": BUNDLE_FILENAME})
    except pm.SpiderMonkeyError as error:
        channel.send(Kind.FATAL, 0, pack_meta({"phase": "evaluate", "message": str(error)}))
        await channel.closed
        return
    report = bytes(
        runtime["loadModule"](pack_meta({"env": options.get("env", {}), "bindings": options.get("bindings", [])}))
    )
    loaded, _ = unpack_meta(report)
    channel.send(Kind.READY if "ok" in loaded else Kind.FATAL, 0, report)
    if "ok" not in loaded:
        await channel.closed
        return

    dispatch, call, cancel = runtime["dispatch"], runtime["call"], runtime["cancel"]

    def on_frame(kind: Kind, ident: int, payload: bytes) -> None:
        if kind is Kind.REQUEST:
            channel.inflight += 1
            channel.accept(ident)
            context = contextvars.copy_context()
            context.run(_run_in_context, dispatch, ident, payload)
        elif kind is Kind.CALL:
            contextvars.copy_context().run(_run_in_context, call, ident, payload)
        elif kind is Kind.CANCEL:
            cancel(ident)
        elif kind is Kind.COLLECT:
            pm.collect()

    channel.on_frame = on_frame
    while not channel.frames.empty():
        on_frame(*channel.frames.get_nowait())
    beat = _start_heartbeat(loop, channel)
    try:
        await channel.closed
    finally:
        beat.cancel()
        await host.fetcher.close()


async def _next_frame(channel: Channel) -> tuple[Kind, bytes]:
    """The next frame, or ConnectionResetError once the emulator's end is closed: a worker waiting for its
    options when the emulator dies (before the kernel's parent-death signal was asked for, or a spare) must
    end, not wait for ever."""
    frame = asyncio.ensure_future(channel.frames.get())
    await asyncio.wait([frame, channel.closed], return_when=asyncio.FIRST_COMPLETED)
    if not frame.done():
        frame.cancel()
        raise ConnectionResetError("the emulator closed the worker's socket")
    kind, _, payload = frame.result()
    return kind, payload


def _run_in_context(function: Any, ident: int, payload: bytes) -> None:
    CURRENT_REQUEST.set(ident)
    function(ident, payload)


def _start_heartbeat(loop: asyncio.AbstractEventLoop, channel: Channel) -> asyncio.TimerHandle:
    # While requests are in flight, a BEAT every 100 ms says the loop still turns; a handler spinning in
    # synchronous JS stops them and the pool's supervisor kills this process (pythonmonkey has no interrupt).
    handle: asyncio.TimerHandle

    def beat() -> None:
        nonlocal handle
        if channel.inflight > 0:
            channel.send(Kind.BEAT, 0)
        handle = loop.call_later(BEAT_INTERVAL_S, beat)

    handle = loop.call_later(BEAT_INTERVAL_S, beat)
    return handle


def _uncaught_handler(channel: Channel) -> Any:
    # Installed so that pythonmonkey's default (which calls pm.stop() and cancels every JS timer, runtime-notes
    # §1.2) never runs. pythonmonkey turns *every* promise rejected before a handler is attached into a Python
    # future that asyncio reports as "never retrieved" on collection, including the rejection of an async
    # handler that throws before its first await and is awaited a moment later. Reporting those would flood
    # the log with false "Uncaught (in promise)" lines, so they are dropped; other loop errors are logged.
    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == "Future exception was never retrieved":
            return
        error = context.get("exception")
        message = str(error) if error is not None else str(context.get("message", "unknown error"))
        channel.send(Kind.LOG, CURRENT_REQUEST.get(), bytes([4]) + f"outbound worker: {message}".encode())

    return handle


def _die_with_parent() -> None:
    # If the emulator is killed, its workers must not linger holding ports or memory.
    PR_SET_PDEATHSIG = 1
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the emulator's to handle
    _die_with_parent()
    asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
