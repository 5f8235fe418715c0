"""One version of the loaded project: what one build of the handler files and config runs on.

``Emulator`` serves one version at a time; a reload (``Emulator.reload``) starts the next beside it, switches
to it, and retires the previous one here: the previous version keeps serving what was decided against it
(requests in flight, bodies still streaming, sandboxes a request holds) and stops once nothing is left, or
when ``Limits.retire_timeout_s`` runs out.
"""

from __future__ import annotations

import gc
import logging
import shutil
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bindings import Bindings
from emulator.config import WorkerConfig
from emulator.egress import Egress
from emulator.runtime.bundle import Bundle
from emulator.runtime.env import BindingHost
from emulator.runtime.pool import EnginePool
from emulator.runtime.sourcemap import StackMapper

log = logging.getLogger("outbound")

# A retiring version waits for the requests that hold its sandboxes. Those are freed when their flow ends,
# unless a reference cycle keeps them until the next collection: collect at most this often meanwhile.
COLLECT_WHILE_RETIRING_S = 1.0


@dataclass(eq=False)
class Version:
    """A started build: bundle, its stack mapper, bindings, JS pool and the egress that applies decisions."""

    number: int  # v1, v2, …: what the terminal shows
    config: WorkerConfig
    bundle: Bundle
    stacks: StackMapper
    bindings: Bindings
    binding_host: BindingHost
    pool: EnginePool
    egress: Egress
    folder: Path  # where its bundle lives
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"v{self.number}"

    @property
    def classes(self) -> dict[str, str]:
        """Container classes the module exports: export name → constructor name."""
        return {name: info["className"] for name, info in self.pool.report.get("classes", {}).items()}

    async def retire(self, holders: weakref.WeakSet[Any], alive: Callable[[], Iterable[Version]]) -> None:
        """Serve what is in flight and what ``holders`` (its sandboxes a request still holds) need, then stop.

        ``alive()``: the versions running when it stops, whose binding stores must stay open.
        """
        started = time.monotonic()
        last_collect = started

        def busy() -> bool:
            nonlocal last_collect
            if holders and not self.pool.in_flight and time.monotonic() - last_collect > COLLECT_WHILE_RETIRING_S:
                last_collect = time.monotonic()
                gc.collect()
            return bool(holders)

        cut = await self.pool.retire(busy)
        if cut:
            log.warning(
                "%s: %d request(s) still running %.0f s after a reload replaced it were cut off",
                self.name,
                cut,
                time.monotonic() - started,
            )
        await self.close(alive())

    async def close(self, alive: Iterable[Version] = ()) -> None:
        """Stop the version now; binding stores that a version in ``alive`` uses stay open."""
        alive = [version for version in alive if version is not self]
        await self.pool.close()
        await self.binding_host.close()
        if all(version.bindings is not self.bindings for version in alive):
            await self.bindings.close(keep=[version.bindings for version in alive])
        shutil.rmtree(self.folder, ignore_errors=True)
