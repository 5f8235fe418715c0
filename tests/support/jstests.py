"""Collects tests written in JS (``*.test.js``) and runs them inside the real runtime, one pytest item each.

Each file is bundled with esbuild like a handler and loaded into a one-worker pool; its tests register with
``tests/support/harness.js`` and run one by one through the pool's ``callExport`` call, so they see exactly
the global scope a handler sees. A conftest subclasses ``JSTestFile`` to say how the pool is started (which
env, which bindings, which local servers).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from emulator.runtime.bundle import build_handler, build_runtime
from emulator.runtime.pool import EnginePool, HandlerException

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

Cleanup = Callable[[], Awaitable[None]]


class JSTestFile(pytest.File):
    loop: asyncio.AbstractEventLoop | None = None
    pool: EnginePool | None = None
    cleanups: list[Cleanup]

    async def start_pool(self, out: Path, runtime: Path, bundle: Path) -> EnginePool:
        """Start the pool for this file's bundle; register anything to stop in ``self.cleanups``."""
        raise NotImplementedError

    def collect(self) -> Iterator[pytest.Item]:
        self._start()
        assert self.loop is not None and self.pool is not None
        names = self.loop.run_until_complete(self.pool.call("callExport", {"name": "tests", "key": "list"}))
        for name in names:
            yield JSTestItem.from_parent(self, name=name)

    def _start(self) -> None:
        if self.pool is not None:
            return
        self.cleanups = []
        self.loop = asyncio.new_event_loop()
        self.config.add_cleanup(self._stop)
        out = Path(tempfile.mkdtemp(prefix="outbound-jstests-"))

        async def start() -> EnginePool:
            runtime = await build_runtime(out)
            bundle = await build_handler(self.path, self.path.parent, out)
            pool = await self.start_pool(out, runtime, bundle.path)
            self.cleanups.insert(0, pool.close)
            return pool

        self.pool = self.loop.run_until_complete(start())

    def _stop(self) -> None:
        if self.loop is None:
            return
        for cleanup in self.cleanups:
            self.loop.run_until_complete(cleanup())
        self.pool = None
        self.loop.close()
        self.loop = None


class JSTestItem(pytest.Item):
    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, JSTestFile) and parent.loop is not None and parent.pool is not None
        call = parent.pool.call("callExport", {"name": "tests", "key": "run", "args": [self.name]})
        try:
            parent.loop.run_until_complete(asyncio.wait_for(call, 20))
        except HandlerException as error:
            raise JSTestFailure(error) from None

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, JSTestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.name}::{self.name}"


class JSTestFailure(Exception):
    def __init__(self, error: HandlerException) -> None:
        super().__init__(f"{error}\n{error.stack}")
