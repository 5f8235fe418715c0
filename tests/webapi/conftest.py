"""Web API tests written in JS (``*.test.js``), run inside the real runtime (tests/support/jstests.py).

Every file also gets a local internet (``tests/support/upstream.py``) on its event loop: the worker's
``fetch()`` reaches it through the ``upstream`` worker option, and the JS tests find its URLs in ``env``
(``import { env } from "cloudflare:workers"``: ``env.UPSTREAM_HTTP``, ``env.UPSTREAM_HTTPS``, …). The servers
only answer while a test runs, since that is when the loop turns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.runtime.pool import EnginePool, Limits
from tests.support.jstests import JSTestFile
from tests.support.upstream import LocalInternet


class WebAPITestFile(JSTestFile):
    async def start_pool(self, out: Path, runtime: Path, bundle: Path) -> EnginePool:
        internet = LocalInternet(out)
        await internet.start()
        self.cleanups.append(internet.close)
        pool = EnginePool(
            runtime_path=runtime,
            bundle_path=bundle,
            env={"TEST_VAR": "from-env", **internet.env()},
            size=1,
            limits=Limits(cpu_ms=10_000),
            worker_options={"upstream": internet.upstream_options()},
        )
        await pool.start()
        return pool


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.File | None:
    if file_path.name.endswith(".test.js"):
        return WebAPITestFile.from_parent(parent, path=file_path)
    return None
