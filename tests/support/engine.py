"""Start a real worker pool for one handler file, for tests that talk to the pool directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from emulator.runtime.bundle import build_handler, build_runtime
from emulator.runtime.pool import EnginePool


@asynccontextmanager
async def started_pool(entry: Path, out: Path, **options: Any) -> AsyncIterator[EnginePool]:
    """Bundle ``entry`` (its folder is the project root) into ``out`` and run it in an EnginePool."""
    runtime = await build_runtime(out)
    bundle = await build_handler(entry, entry.parent, out)
    options.setdefault("env", {})
    async with EnginePool(runtime_path=runtime, bundle_path=bundle.path, **options) as pool:
        yield pool
