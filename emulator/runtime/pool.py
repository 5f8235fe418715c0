"""The pool of JS worker processes that run one bundle, and the supervision that contains them.

Each worker (``worker.py``) holds a SpiderMonkey with the runtime and the bundle loaded. The pool sends each
handler call to the least busy worker and watches them all:

- a worker whose event loop stops turning (no ``BEAT`` for ``Limits.cpu_ms`` while requests are in flight:
  a handler stuck in synchronous JS, which pythonmonkey cannot interrupt) is killed and replaced;
- a worker whose memory grows past ``Limits.memory_mib`` above its idle footprint is killed and replaced;
  at half that it is asked to collect garbage, and if three quarters stay held it is retired gently;
- a worker that exits (a crash in pythonmonkey) is replaced;
- a handler that produces no Response within ``Limits.response_timeout_s`` fails that request, and its worker
  is retired once its other requests finish (the stuck promise chain may still be spinning);
- a worker is retired after ``Limits.max_requests`` requests, to bound the leaks pythonmonkey still has.

Requests in flight on a killed worker fail with ``WorkerLost``; other workers, and so other sandboxes, keep
serving. One pool is one version of the bundle: a reload starts a new pool and retires the old one
(``retire``), which finishes the calls it has in flight, response bodies included, before its workers stop.
Workers may come from a ``Standby`` of spares started ahead of need (``standby.py``), which makes a reload's
new pool ready in milliseconds rather than the ~0.35 s a worker takes to boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.errors import OutboundError, UserError
from emulator.runtime.bridge import Kind, encode_frame, pack_meta, unpack_meta
from emulator.runtime.standby import Standby, start_worker_process

SUPERVISE_INTERVAL_S = 0.05
RETIRE_POLL_S = 0.02
UNREAD_RETRIES = 2  # how often a request a lost worker never started is sent to another worker
COLLECT_INTERVAL_S = 0.2
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Limits:
    """Containment limits for handler code; every one is per worker process."""

    cpu_ms: int = 30_000  # Workers' default CPU limit; here: the longest the event loop may be blocked
    # Workers gives an isolate 128 MB of heap. Here the measure is RSS above the worker's idle size, which also
    # holds the bridge's copies of bodies in flight and garbage SpiderMonkey has not collected yet, so the
    # default is higher: it stops runaway allocation, not a handler moving a 25 MiB KV value.
    memory_mib: int = 512
    response_timeout_s: float = 60.0  # time a handler has to produce its Response (headers)
    max_requests: int = 100_000  # a worker is replaced after this many requests
    startup_timeout_s: float = 30.0
    # How long a pool a reload replaced may finish what it has in flight (a download a handler streams, a
    # Worker awaiting a sandbox's exec) before what is left is cut off.
    retire_timeout_s: float = 300.0


@dataclass(frozen=True)
class HandlerCall:
    """Which handler to run and the ``ctx`` it gets (contract §1.2).

    ``WORKER_FETCH`` is the Worker's own entry instead: the module's default ``fetch(request, env, ctx)`` with a
    Workers ExecutionContext, as ``wrangler dev`` serves it.
    """

    class_name: str
    # "byHost" (a static outboundByHost entry), "handler" (an outboundHandlers entry) or "fetch" (the Worker's
    # default export; class_name, key and container_id are then unused)
    kind: str
    key: str  # the host pattern or the handler name
    container_id: str
    runtime: bool = False  # chosen by a runtime override: ctx always gets a `params` key (contract §1.7)
    params_given: bool = False  # False leaves ctx.params undefined
    params: Any = None
    label: str = ""  # how logs name this handler, e.g. 'outboundByHost["github.com"]'


WORKER_FETCH = HandlerCall(class_name="", kind="fetch", key="fetch", container_id="", label="fetch")
_KIND_CODES = {"byHost": "b", "handler": "h", "fetch": "w"}  # js/bridge.js lookupHandler


@dataclass(frozen=True)
class HandlerRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]  # lower-case names, in order
    body: bytes | None


@dataclass(frozen=True)
class ConsoleEntry:
    level: str
    message: str
    request_id: int
    tag: Any = None  # whatever the caller attached to the request (sandbox, handler)


class HandlerError(OutboundError):
    """The handler did not produce a usable Response."""

    def __init__(self, message: str, *, error: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.error = error or {}

    @property
    def stack(self) -> str:
        return self.error.get("stack", "")


class HandlerException(HandlerError):
    """The handler threw (or its promise rejected)."""


class HandlerReturnedNonResponse(HandlerError):
    """The handler resolved to something other than a Response."""


class HandlerTimeout(HandlerError):
    """The handler did not produce a Response within ``Limits.response_timeout_s``."""


class WorkerLost(HandlerError):
    """The worker running the handler died or was killed (CPU or memory limit, crash)."""

    def __init__(self, message: str, *, reason: str, unread: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        # The worker never started this request (no ACCEPT came back): no handler code ran for it, so nothing
        # was forwarded and ``run`` may send it to another worker.
        self.unread = unread


class ModuleLoadError(UserError):
    """The bundle threw while its top-level code ran; the workers could not start."""

    def __init__(self, message: str, *, error: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.error = error or {}


class BodyStreamError(HandlerError):
    """The handler's response body stream failed after the headers were sent."""


_LEVELS = {0: "debug", 1: "log", 2: "info", 3: "warn", 4: "error"}


class ResponseBody:
    """The body of a handler's response, as it arrives from the worker."""

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        if exchange.complete is not None:
            body, exchange.complete = exchange.complete, None
            if body:
                yield body
            return
        while True:
            chunk = await exchange.chunks.get()
            if chunk is None:
                if exchange.failure is not None:
                    raise exchange.failure
                return
            exchange.acknowledge(len(chunk))
            yield chunk

    @property
    def is_complete(self) -> bool:
        """The whole body arrived with the head: ``read()`` returns it without waiting."""
        return self._exchange.complete is not None

    async def read(self) -> bytes:
        exchange = self._exchange
        if exchange.complete is not None:  # the whole body came with the head: no queue, no credit
            body, exchange.complete = exchange.complete, None
            return body
        return b"".join([chunk async for chunk in self])

    def cancel(self) -> None:
        self._exchange.cancel()


@dataclass
class HandlerResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: ResponseBody
    url: str = ""  # Response.url: where the handler fetched it from ("" for a Response it built)


@dataclass(eq=False)
class _Exchange:
    ident: int
    worker: _Worker
    tag: Any
    started: float = field(default_factory=time.monotonic)
    response_timeout_s: float = math.inf  # how long the handler has to produce its Response
    head: asyncio.Future[HandlerResponse] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    chunks: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    failure: Exception | None = None
    complete: bytes | None = None  # the body, when it arrived whole in the HEAD frame
    streaming: bool = False
    done: bool = False
    accepted: bool = False  # the worker said it started running the handler (Kind.ACCEPT)

    def acknowledge(self, size: int) -> None:
        if not self.done:
            self.worker.send(Kind.CREDIT, self.ident, size.to_bytes(4, "little"))

    def cancel(self) -> None:
        if not self.done:
            self.worker.send(Kind.CANCEL, self.ident)
            self.finish()

    def fail(self, error: Exception) -> None:
        if not self.head.done():
            self.head.set_exception(error)
        elif not self.done:
            self.failure = error
            self.chunks.put_nowait(None)
        self.finish()

    def finish(self) -> None:
        if not self.done:
            self.done = True
            self.worker.exchanges.pop(self.ident, None)
            self.worker.pool.retire_if_idle(self.worker)


class _Worker(asyncio.Protocol):
    def __init__(self, pool: EnginePool, number: int) -> None:
        self.pool = pool
        self.number = number
        self.process: asyncio.subprocess.Process | None = None
        self.transport: asyncio.Transport | None = None
        self.reader_buffer = bytearray()
        self.outgoing: list[bytes] = []
        self.exchanges: dict[int, _Exchange] = {}
        self.calls: dict[int, asyncio.Future[Any]] = {}
        self.ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.last_beat = time.monotonic()
        self.requests = 0
        self.retiring = False
        self.dead = False
        self.idle_rss = 0
        self.last_collect = 0.0
        self.death_reason = ""

    # -- asyncio.Protocol ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.worker_lost(self, self.death_reason or "crash")

    def data_received(self, data: bytes) -> None:
        buffer = self.reader_buffer
        buffer += data
        offset = 0
        while len(buffer) - offset >= 9:
            length = int.from_bytes(buffer[offset : offset + 4], "little")
            end = offset + 9 + length
            if len(buffer) < end:
                break
            kind = buffer[offset + 4]
            ident = int.from_bytes(buffer[offset + 5 : offset + 9], "little")
            self.on_frame(kind, ident, bytes(buffer[offset + 9 : end]))
            offset = end
        if offset:
            del buffer[:offset]

    # -- frames ----------------------------------------------------------------------------------------
    def send(self, kind: Kind, ident: int, payload: bytes = b"") -> None:
        # Frames queued in one turn of the event loop leave in one write: with many requests in flight a send
        # per frame cost a syscall and a wake-up of the worker each, the largest cost measured on this path.
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self.outgoing.append(encode_frame(kind, ident, payload))

    def _flush(self) -> None:
        frames, self.outgoing = self.outgoing, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(frames))

    def on_frame(self, kind: int, ident: int, payload: bytes) -> None:
        self.last_beat = time.monotonic()
        if kind == Kind.HEAD:
            self._on_head(ident, payload)
        elif kind == Kind.DATA:
            exchange = self.exchanges.get(ident)
            if exchange is not None:
                exchange.chunks.put_nowait(payload)
        elif kind == Kind.END:
            self._on_end(ident, payload)
        elif kind == Kind.ERROR:
            self._on_error(ident, payload)
        elif kind == Kind.ACCEPT:
            exchange = self.exchanges.get(ident)
            if exchange is not None:
                exchange.accepted = True
        elif kind == Kind.LOG:
            self.pool.console(ident, _LEVELS.get(payload[0], "log"), payload[1:].decode(errors="replace"))
        elif kind == Kind.RPC:
            self.pool.serve_rpc(self, ident, payload)
        elif kind == Kind.RESULT:
            future = self.calls.pop(ident, None)
            if future is not None and not future.done():
                future.set_result(unpack_meta(payload)[0])
        elif (kind == Kind.READY or kind == Kind.FATAL) and not self.ready.done():
            self.ready.set_result({"fatal": kind == Kind.FATAL, **unpack_meta(payload)[0]})

    def _on_head(self, ident: int, payload: bytes) -> None:
        exchange = self.exchanges.get(ident)
        if exchange is None:
            return
        meta, body = unpack_meta(payload)
        response = HandlerResponse(
            status=meta["s"],
            reason=meta["t"],
            headers=[(name, value) for name, value in meta["h"]],
            body=ResponseBody(exchange),
            url=meta.get("u", ""),
        )
        if meta.get("end"):
            exchange.complete = body
            exchange.finish()
        else:
            exchange.streaming = True
        if not exchange.head.done():
            exchange.head.set_result(response)

    def _on_end(self, ident: int, payload: bytes) -> None:
        exchange = self.exchanges.get(ident)
        if exchange is None:
            return
        meta, _ = unpack_meta(payload)
        if "error" in meta:
            error = meta["error"]
            exchange.failure = BodyStreamError(f"{error.get('name')}: {error.get('message')}", error=error)
        exchange.chunks.put_nowait(None)
        exchange.finish()

    def _on_error(self, ident: int, payload: bytes) -> None:
        exchange = self.exchanges.get(ident)
        if exchange is None:
            return
        meta, _ = unpack_meta(payload)
        error = meta.get("error", {})
        text = f"{error.get('name', 'Error')}: {error.get('message', '')}"
        failure: HandlerError
        if meta.get("kind") == "not-response":
            failure = HandlerReturnedNonResponse(f"{text} (got {meta.get('got')})", error=error)
        else:
            failure = HandlerException(text, error=error)
        exchange.fail(failure)

    # -- health ----------------------------------------------------------------------------------------
    def rss_bytes(self) -> int:
        if self.process is None:
            return 0
        try:
            with open(f"/proc/{self.process.pid}/statm") as statm:
                return int(statm.read().split()[1]) * _PAGE_SIZE
        except (OSError, IndexError, ValueError):
            return 0

    def kill(self, reason: str) -> None:
        if self.dead:
            return
        self.death_reason = reason
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        if self.transport is not None:
            self.transport.close()


OnConsole = Callable[[ConsoleEntry], None]
# Serves a worker's RPC (a binding call): payload in, payload out. It must not raise.
OnRpc = Callable[[bytes], Awaitable[bytes]]


class EnginePool:
    """Worker processes running one bundle. Use ``async with EnginePool(...)``, then ``run``/``call``."""

    def __init__(
        self,
        *,
        runtime_path: Path,
        bundle_path: Path,
        env: dict[str, Any],
        size: int = 2,
        limits: Limits = Limits(),
        on_console: OnConsole | None = None,
        on_event: Callable[[str], None] | None = None,
        on_rpc: OnRpc | None = None,
        worker_options: dict[str, Any] | None = None,
        standby: Standby | None = None,
    ) -> None:
        options = {"runtime": str(runtime_path), "bundle": str(bundle_path), "env": env, **(worker_options or {})}
        self._init = json.dumps(options).encode()
        # Spares from the standby are adopted only if they were started with the options this pool needs.
        self._standby = standby if standby is not None and standby.fits(options) else None
        self.size = max(1, size)
        self.limits = limits
        self._on_console = on_console
        self._on_event = on_event or (lambda message: None)
        self._on_rpc = on_rpc
        self._rpc_tasks: set[asyncio.Task[None]] = set()
        self.workers: list[_Worker] = []
        self._next_ident = 0
        self._spawned = 0
        self._tags: OrderedDict[int, Any] = OrderedDict()
        self._supervisor: asyncio.Task[None] | None = None
        self._spawning: set[asyncio.Task[None]] = set()
        self._closed = False
        self.report: dict[str, Any] = {}

    async def __aenter__(self) -> EnginePool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        first = await asyncio.gather(*(self._spawn() for _ in range(self.size)), return_exceptions=True)
        failures = [result for result in first if isinstance(result, BaseException)]
        if failures:
            await self.close()
            raise failures[0]
        self._supervisor = asyncio.create_task(self._supervise(), name="outbound-pool-supervisor")

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def in_flight(self) -> int:
        """Handler calls not finished yet (a response whose body still streams counts) and runtime calls."""
        return sum(len(worker.exchanges) + len(worker.calls) for worker in self.workers)

    async def retire(self, busy: Callable[[], bool] = lambda: False) -> int:
        """Close once nothing is in flight and ``busy()`` is false (a reload replaced this pool).

        New calls are still served meanwhile: a request decided against this version before the reload runs
        here. After ``Limits.retire_timeout_s`` whatever is left fails with ``WorkerLost`` (reason
        "replaced"). Returns how many calls were cut off that way.
        """
        deadline = time.monotonic() + self.limits.retire_timeout_s
        while (self.in_flight or busy()) and time.monotonic() < deadline:
            await asyncio.sleep(RETIRE_POLL_S)
        cut = self.in_flight
        await self.close(reason="replaced")
        return cut

    async def close(self, reason: str = "shutdown") -> None:
        self._closed = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for rpc in list(self._rpc_tasks):
            rpc.cancel()
        spawning = list(self._spawning)
        for task in spawning:
            task.cancel()
        await asyncio.gather(*spawning, return_exceptions=True)
        for worker in list(self.workers):
            worker.kill(reason)
        for worker in list(self.workers):
            if worker.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    await worker.process.wait()
        self.workers.clear()

    # -- spawning --------------------------------------------------------------------------------------
    async def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        self._spawned += 1
        worker = _Worker(self, self._spawned)
        spare = self._standby.take() if self._standby is not None else None
        if spare is not None:  # booted already: it needs only the bundle, env and bindings
            worker.process, parent, first = spare.process, spare.socket, Kind.LOAD
        else:
            worker.process, parent = await start_worker_process()
            first = Kind.INIT
        try:
            await loop.create_unix_connection(lambda: worker, sock=parent)
            worker.send(first, 0, self._init)
            report = await asyncio.wait_for(asyncio.shield(worker.ready), self.limits.startup_timeout_s)
        except asyncio.CancelledError:
            # The pool closed while this worker was starting: it must not outlive the pool.
            if worker.transport is None:
                parent.close()
            await asyncio.shield(self._discard(worker, "shutdown"))
            raise
        except (TimeoutError, WorkerLost) as error:
            await self._discard(worker, "startup")
            if spare is not None and isinstance(error, WorkerLost):
                return await self._spawn()  # the spare had died waiting: start a worker of our own
            raise ModuleLoadError(f"a JS worker did not start within {self.limits.startup_timeout_s:g} s") from error
        if report.get("fatal") or "error" in report:
            await self._discard(worker, "load failed")
            failure = report.get("error") or {"name": "Error", "message": report.get("message", "unknown")}
            raise ModuleLoadError(f"{failure.get('name')}: {failure.get('message')}", error=failure)
        self.report = report.get("ok", {})
        worker.idle_rss = worker.rss_bytes()
        worker.last_beat = time.monotonic()
        self.workers.append(worker)

    async def _discard(self, worker: _Worker, reason: str) -> None:
        worker.kill(reason)
        if worker.process is not None:
            await worker.process.wait()
        await asyncio.sleep(0)  # let the transport deliver connection_lost and close its socket

    def _replace(self) -> None:
        if self._closed:
            return
        task = asyncio.create_task(self._respawn(), name="outbound-pool-respawn")
        self._spawning.add(task)
        task.add_done_callback(self._spawning.discard)

    async def _respawn(self) -> None:
        try:
            await self._spawn()
        except Exception as error:  # noqa: BLE001 - reported, and the next request tries again
            self._on_event(f"could not start a replacement JS worker: {error}")

    def worker_lost(self, worker: _Worker, reason: str) -> None:
        if worker.dead:
            return
        worker.dead = True
        serving = worker in self.workers
        if serving:
            self.workers.remove(worker)
        if not worker.ready.done():
            worker.ready.set_exception(WorkerLost("the worker exited while starting", reason=reason))
            worker.ready.exception()  # retrieved: the spawner reports it
        message = _lost_message(reason, self.limits)
        for exchange in list(worker.exchanges.values()):
            exchange.fail(WorkerLost(message, reason=reason, unread=not exchange.accepted))
        for future in worker.calls.values():
            if not future.done():
                future.set_exception(WorkerLost(message, reason=reason))
        worker.calls.clear()
        if serving and reason not in ("shutdown", "retired", "replaced"):
            self._on_event(f"JS worker {worker.number} {message}; starting a replacement")
        # Only a worker that was serving is replaced; one that failed to start is its spawner's to report.
        if serving and len(self.workers) + len(self._spawning) < self.size:
            self._replace()

    def retire_if_idle(self, worker: _Worker) -> None:
        if worker.retiring and not worker.exchanges and not worker.calls:
            worker.kill("retired")

    def _retire(self, worker: _Worker, why: str) -> None:
        if worker.retiring:
            return
        worker.retiring = True
        self._on_event(f"JS worker {worker.number} retired: {why}")
        self._replace()
        self.retire_if_idle(worker)

    # -- supervision -----------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        limits = self.limits
        while True:
            await asyncio.sleep(SUPERVISE_INTERVAL_S)
            now = time.monotonic()
            for worker in list(self.workers):
                if worker.exchanges and now - worker.last_beat > limits.cpu_ms / 1000:
                    worker.kill("cpu")
                    continue
                grown = worker.rss_bytes() - worker.idle_rss
                if grown > limits.memory_mib * 2**20:
                    worker.kill("memory")
                    continue
                # SpiderMonkey collects lazily: a worker streaming large bodies grows well past its live data.
                # Ask for a collection at half the limit, so that only memory a handler really holds is killed.
                if grown > limits.memory_mib * 2**19 and now - worker.last_collect > COLLECT_INTERVAL_S:
                    if worker.last_collect and grown > limits.memory_mib * 3 * 2**18:
                        # Still above three quarters after a collection: what remains is held, not garbage.
                        # Retire the worker gently before a request hits the hard limit.
                        self._retire(worker, f"it holds {grown / 2**20:.0f} MiB above its idle size")
                        continue
                    worker.last_collect = now
                    worker.send(Kind.COLLECT, 0)
                for exchange in list(worker.exchanges.values()):
                    if not exchange.head.done() and now - exchange.started > exchange.response_timeout_s:
                        exchange.worker.send(Kind.CANCEL, exchange.ident)
                        exchange.fail(
                            HandlerTimeout(
                                f"the handler did not return a Response within {exchange.response_timeout_s:g} s"
                            )
                        )
                        self._retire(worker, "a handler timed out and may still be running")

    # -- requests --------------------------------------------------------------------------------------
    def _pick(self) -> _Worker:
        candidates = [w for w in self.workers if not w.retiring and not w.dead]
        if not candidates:
            candidates = [w for w in self.workers if not w.dead]
        if not candidates:
            raise WorkerLost(
                "no JS worker is running (they are being restarted); retry the request", reason="restarting"
            )
        return min(candidates, key=lambda w: len(w.exchanges))

    def _ident(self) -> int:
        self._next_ident = self._next_ident % 0xFFFFFFFE + 1
        return self._next_ident

    async def run(
        self,
        call: HandlerCall,
        request: HandlerRequest,
        *,
        tag: Any = None,
        response_timeout_s: float | None = None,
    ) -> HandlerResponse:
        """Run one handler; returns once its Response headers arrive (the body may still be streaming).

        ``response_timeout_s`` replaces ``Limits.response_timeout_s`` for this call (``math.inf``: no limit).
        """
        timeout_s = self.limits.response_timeout_s if response_timeout_s is None else response_timeout_s
        for attempt in range(UNREAD_RETRIES + 1):
            try:
                return await self._run_once(call, request, tag, timeout_s)
            except WorkerLost as lost:
                # A request queued behind a handler that blocked or crashed its worker dies with that worker
                # although it never ran; another sandbox's request must not pay for that handler (tests/faults).
                if not lost.unread or attempt == UNREAD_RETRIES:
                    raise
        raise AssertionError("unreachable")

    async def _run_once(
        self, call: HandlerCall, request: HandlerRequest, tag: Any, timeout_s: float
    ) -> HandlerResponse:
        worker = await self._ready_worker()
        ident = self._ident()
        exchange = _Exchange(ident=ident, worker=worker, tag=tag, response_timeout_s=timeout_s)
        if not worker.exchanges:
            # An idle worker sends no BEAT, so its last one may be minutes old: the CPU clock starts with the
            # work. Without this, a supervisor tick between this request and the worker's first frame killed a
            # healthy worker (seen under a connection flood, when replies take longer than a tick).
            worker.last_beat = time.monotonic()
        worker.exchanges[ident] = exchange
        self._remember(ident, tag)
        worker.requests += 1
        meta: dict[str, Any] = {
            "c": call.class_name,
            "k": _KIND_CODES[call.kind],
            "n": call.key,
            "ctx": {"containerId": call.container_id, "className": call.class_name},
            "p": (2 if call.params_given else 1) if call.runtime else 0,
            "m": request.method,
            "u": request.url,
            "h": request.headers,
            "b": request.body is not None,
        }
        if call.runtime and call.params_given:
            meta["pv"] = call.params
        worker.send(Kind.REQUEST, ident, pack_meta(meta, request.body or b""))
        if worker.requests >= self.limits.max_requests:
            self._retire(worker, f"served {worker.requests} requests")
        return await exchange.head

    async def call(self, function: str, args: Any) -> Any:
        """Call one of the runtime's named functions (``describe``, ``callExport``) and return its value."""
        worker = await self._ready_worker()
        ident = self._ident()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        worker.calls[ident] = future
        worker.send(Kind.CALL, ident, pack_meta({"fn": function, "args": args}))
        try:
            reply = await future
        finally:
            self.retire_if_idle(worker)
        if "error" in reply:
            error = reply["error"]
            raise HandlerException(f"{error.get('name')}: {error.get('message')}", error=error)
        return reply.get("ok")

    async def _ready_worker(self) -> _Worker:
        deadline = time.monotonic() + self.limits.startup_timeout_s
        while True:
            try:
                return self._pick()
            except WorkerLost:
                if self._closed or time.monotonic() > deadline or not self._spawning:
                    if not self._spawning and not self._closed and len(self.workers) < self.size:
                        self._replace()
                    if self._closed or time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.01)

    def _remember(self, ident: int, tag: Any) -> None:
        # console output can arrive after the response (timers, waitUntil-like work): keep recent tags.
        self._tags[ident] = tag
        if len(self._tags) > 4096:
            self._tags.popitem(last=False)

    def console(self, ident: int, level: str, message: str) -> None:
        if self._on_console is not None:
            self._on_console(ConsoleEntry(level=level, message=message, request_id=ident, tag=self._tags.get(ident)))

    def serve_rpc(self, worker: _Worker, ident: int, payload: bytes) -> None:
        task = asyncio.create_task(self._answer_rpc(worker, ident, payload), name="outbound-rpc")
        self._rpc_tasks.add(task)
        task.add_done_callback(self._rpc_tasks.discard)

    async def _answer_rpc(self, worker: _Worker, ident: int, payload: bytes) -> None:
        if self._on_rpc is None:
            reply = pack_meta({"error": {"name": "Error", "message": "this emulator serves no bindings"}})
        else:
            reply = await self._on_rpc(payload)
        worker.send(Kind.RPC_RESULT, ident, reply)

    def stats(self) -> dict[str, Any]:
        return {
            "workers": [
                {
                    "number": w.number,
                    "pid": w.process.pid if w.process else None,
                    "rss": w.rss_bytes(),
                    "requests": w.requests,
                    "inflight": len(w.exchanges),
                    "retiring": w.retiring,
                }
                for w in self.workers
            ]
        }


def _lost_message(reason: str, limits: Limits) -> str:
    return {
        "cpu": f"was killed: a handler kept its event loop busy for more than {limits.cpu_ms} ms of CPU "
        "(an endless loop?)",
        "memory": f"was killed: it used more than {limits.memory_mib} MiB of memory",
        "crash": "crashed (the JS engine exited unexpectedly)",
        "shutdown": "was stopped",
        "retired": "was retired",
        "replaced": f"was stopped: a reload replaced this version of the handlers {limits.retire_timeout_s:g} s ago "
        "and this request was still running",
        "startup": "did not start",
        "load failed": "could not load the bundle",
    }.get(reason, f"was lost ({reason})")
