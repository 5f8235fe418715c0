"""Runs the Web API tests written in JS (``*.test.js``) inside the real runtime, one pytest item per test.

Each file is bundled with esbuild like a handler and loaded into a one-worker pool; its tests run one by one
through the pool's ``callExport`` call, so they see exactly the global scope a handler sees.

Every file also gets a local internet (``tests/support/upstream.py``) on its event loop: the worker's
``fetch()`` reaches it through the ``upstream`` worker option, and the JS tests find its URLs in ``env``
(``import { env } from "cloudflare:workers"``: ``env.UPSTREAM_HTTP``, ``env.UPSTREAM_HTTPS``, …). The servers
only answer while a test runs, since that is when the loop turns.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from emulator.runtime.bundle import build_handler, build_runtime
from emulator.runtime.pool import EnginePool, HandlerException, Limits
from tests.support.upstream import LocalInternet

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr


class JSTestFile(pytest.File):
    loop: asyncio.AbstractEventLoop | None = None
    pool: EnginePool | None = None
    internet: LocalInternet | None = None

    def collect(self) -> Iterator[pytest.Item]:
        self._start()
        assert self.loop is not None and self.pool is not None
        names = self.loop.run_until_complete(self.pool.call("callExport", {"name": "tests", "key": "list"}))
        for name in names:
            yield JSTestItem.from_parent(self, name=name)

    def _start(self) -> None:
        if self.pool is not None:
            return
        self.loop = asyncio.new_event_loop()
        self.config.add_cleanup(self._stop)
        out = Path(tempfile.mkdtemp(prefix="outbound-webapi-"))

        async def start() -> EnginePool:
            self.internet = LocalInternet(out)
            await self.internet.start()
            runtime = await build_runtime(out)
            bundle = await build_handler(self.path, self.path.parent, out)
            pool = EnginePool(
                runtime_path=runtime,
                bundle_path=bundle.path,
                env={"TEST_VAR": "from-env", **self.internet.env()},
                size=1,
                limits=Limits(cpu_ms=10_000),
                worker_options=worker_options(self.internet),
            )
            await pool.start()
            return pool

        self.pool = self.loop.run_until_complete(start())

    def _stop(self) -> None:
        if self.loop is None:
            return
        if self.pool is not None:
            self.loop.run_until_complete(self.pool.close())
            self.pool = None
        if self.internet is not None:
            self.loop.run_until_complete(self.internet.close())
            self.internet = None
        self.loop.close()
        self.loop = None


def worker_options(internet: LocalInternet) -> dict[str, Any]:
    return {"upstream": internet.upstream_options()}


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


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.File | None:
    if file_path.name.endswith(".test.js"):
        return JSTestFile.from_parent(parent, path=file_path)
    return None
