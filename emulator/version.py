"""One version of the loaded project: what one build of the handler files and config runs on.

``Emulator`` serves one version at a time; a reload (``Emulator.reload``) starts the next beside it, switches
to it, and retires the previous one here: the previous version keeps serving what was decided against it
(requests in flight, bodies still streaming, sandboxes a request holds) and stops once nothing is left, or
when ``Limits.retire_timeout_s`` runs out.
"""

from __future__ import annotations

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

# A request decided against a version just before a reload can start on it a moment later (its body was still
# arriving): a retiring version's sandboxes that something still holds keep it for this long at most. Not
# longer, because mitmproxy's finished flows hold them until the cycle collector runs (and a full collection
# stalls the proxy for a quarter of a second); a request that starts later still runs, on the version serving
# (Egress.replaced_by).
HOLD_FOR_S = 2.0


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
        """Serve what is in flight and what ``holders`` (its sandboxes requests still hold) may still start, then
        stop.

        ``alive()``: the versions running when it stops, whose binding stores must stay open.
        """
        started = time.monotonic()

        def busy() -> bool:
            return bool(holders) and time.monotonic() - started < HOLD_FOR_S

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
