"""The emulators a test session loaded, kept warm between tests.

Starting a project's JS workers takes about half a second; ``Emulator.reset`` gives the next test the state a
fresh load would (no sandboxes, empty bindings, no audit records) in a few milliseconds. So each distinct
``LoadOptions`` is loaded once per session and reset before every test that uses it. A project that fails to
load fails every test that asks for it with the same message, without being tried again. At most
``MAX_LOADED`` emulators stay up at once (each holds worker processes); the least recently used one closes.

The stores' clock is ``TestClock``: real time, or the ``FakeClock`` of the test that asked for ``clock``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from bindings import FakeClock, SystemClock
from emulator.emulator import Emulator
from emulator.errors import UserError
from emulator.pytest_plugin.options import LoadOptions

MAX_LOADED = 4


class TestClock:
    """Real time, unless a test installed a ``FakeClock`` (the ``clock`` fixture) for its duration."""

    __test__ = False  # not a test class, whatever its name says to pytest

    def __init__(self) -> None:
        self.fake: FakeClock | None = None
        self._system = SystemClock()

    def now_ms(self) -> int:
        return self.fake.now_ms() if self.fake is not None else self._system.now_ms()


class LoadFailed(Exception):
    """The project did not load; the message says where (the TS location for a module that threw)."""


class Emulators:
    """Loaded emulators by ``LoadOptions``; every route goes to ``connect_to`` (the stub) unless the options
    add more specific ones."""

    def __init__(self, connect_to: Mapping[str, str], upstream_ca: Path, clock: TestClock) -> None:
        self._connect_to = dict(connect_to)
        self._upstream_ca = upstream_ca
        self.clock = clock
        self._loaded: OrderedDict[LoadOptions, Emulator] = OrderedDict()
        self._failed: dict[LoadOptions, str] = {}

    async def get(self, options: LoadOptions) -> Emulator:
        """The emulator for ``options``, loaded now or earlier; raises LoadFailed for a project that fails."""
        if options in self._failed:
            raise LoadFailed(self._failed[options])
        emulator = self._loaded.get(options)
        if emulator is not None:
            self._loaded.move_to_end(options)
            return emulator
        try:
            emulator = await self._load(options)
        except UserError as error:
            message = f"outbound could not load {options.describe()}:\n{error}"
            self._failed[options] = message
            raise LoadFailed(message) from None
        self._loaded[options] = emulator
        while len(self._loaded) > MAX_LOADED:
            _, oldest = self._loaded.popitem(last=False)
            await oldest.close()
        return emulator

    async def _load(self, options: LoadOptions) -> Emulator:
        emulator = Emulator.load(
            options.target,
            env=options.env,
            in_memory=True,
            workers=options.workers,
            connect_to={**self._connect_to, **dict(options.connect_to)},
            upstream_ca=self._upstream_ca,
            vars=options.vars,
            clock=self.clock,
        )
        try:
            await emulator.start()
        except BaseException:
            await emulator.close()
            raise
        return emulator

    async def close(self) -> None:
        while self._loaded:
            _, emulator = self._loaded.popitem()
            await emulator.close()
