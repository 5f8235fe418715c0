"""Spare JS worker processes, started ahead of need so that a reload does not wait for them to boot.

A worker spends most of its start-up before it sees the user's bundle: the interpreter, pythonmonkey and the
Workers runtime take ~0.35 s, evaluating a bundle a few milliseconds. A spare is a worker started with the
version-independent half of its options (the runtime and the upstream settings, in ``INIT``); it loads all
that and then waits. A pool whose options agree adopts it (``EnginePool._spawn``) and sends the rest
(``LOAD``: bundle, env, bindings). Taking a spare starts another, so the next reload finds one warm too.

Spares are only kept where reloads happen (``outbound dev`` watching its files): each costs a process with
SpiderMonkey loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from dataclasses import dataclass
from typing import Any

from emulator.runtime.bridge import Kind, encode_frame

# The options a spare is started with; a pool may adopt it only if its own options agree on these.
SPARE_OPTIONS = ("runtime", "upstream")


@dataclass
class Spare:
    """A started worker process and the emulator's end of its socket, not yet given a bundle."""

    process: asyncio.subprocess.Process
    socket: socket.socket

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def discard(self) -> None:
        self.socket.close()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


async def start_worker_process() -> tuple[asyncio.subprocess.Process, socket.socket]:
    """A new ``python -m emulator.runtime.worker`` and the emulator's end of its socket (worker.py)."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "emulator.runtime.worker",
            str(child.fileno()),
            pass_fds=[child.fileno()],
            stdin=asyncio.subprocess.DEVNULL,
        )
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
    return process, parent


async def start_spare(options: dict[str, Any]) -> Spare:
    """Start a worker process and send it ``options`` (``SPARE_OPTIONS`` only) as its INIT."""
    process, parent = await start_worker_process()
    # The frame is small and the socket new: its buffer takes it whole, so this never blocks.
    parent.sendall(encode_frame(Kind.INIT, 0, json.dumps(options).encode()))
    return Spare(process, parent)


class Standby:
    """Keeps ``size`` spares started with ``options`` (the runtime and upstream worker options)."""

    def __init__(self, options: dict[str, Any], size: int) -> None:
        self.options = {name: options.get(name) for name in SPARE_OPTIONS}
        self.size = size
        self._spares: list[Spare] = []
        self._starting: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def ready(self) -> list[Spare]:
        """The spares started and not taken yet."""
        return list(self._spares)

    def fits(self, options: dict[str, Any]) -> bool:
        """Whether a pool with worker ``options`` may adopt these spares."""
        return all(options.get(name) == value for name, value in self.options.items())

    def fill(self) -> None:
        """Start spares in the background until there are ``size`` of them."""
        while not self._closed and len(self._spares) + len(self._starting) < self.size:
            task = asyncio.create_task(self._start(), name="outbound-standby-spare")
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _start(self) -> None:
        try:
            spare = await start_spare(self.options)
        except OSError:
            return  # no spare this time: pools start their own workers, as without a standby
        if self._closed:
            await spare.discard()
            return
        self._spares.append(spare)

    def take(self) -> Spare | None:
        """A spare still running (the oldest, so the warmest), or None; starts its replacement."""
        while self._spares:
            spare = self._spares.pop(0)
            self.fill()
            if spare.alive:
                return spare
            spare.socket.close()
        self.fill()
        return None

    async def close(self) -> None:
        self._closed = True
        starting = list(self._starting)
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        spares, self._spares = self._spares, []
        for spare in spares:
            await spare.discard()
