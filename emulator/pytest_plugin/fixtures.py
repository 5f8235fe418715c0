"""The fixtures, registered by ``emulator.pytest_plugin`` when pytest-asyncio is there to run them.

They all live in pytest-asyncio's session event loop: the stub and the loaded emulators serve every test of
the session, and objects bound to one event loop cannot be awaited from another (``__init__`` marks the
tests and async fixtures that use these fixtures to run in that loop too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from bindings import FakeClock
from emulator.emulator import Emulator
from emulator.pytest_plugin import CAPTURE, SESSION_LOOP
from emulator.pytest_plugin.audit import AuditView
from emulator.pytest_plugin.emulators import Emulators, LoadFailed, TestClock
from emulator.pytest_plugin.options import load_options
from emulator.pytest_plugin.report import TestCapture
from emulator.pytest_plugin.stub import UpstreamStub


@dataclass
class OutboundSession:
    stub: UpstreamStub
    clock: TestClock
    emulators: Emulators


@pytest_asyncio.fixture(scope="session", loop_scope=SESSION_LOOP)
async def _outbound_session() -> AsyncIterator[OutboundSession]:
    stub = UpstreamStub()
    await stub.start()
    clock = TestClock()
    emulators = Emulators(stub.connect_to, stub.ca_file, clock)
    try:
        yield OutboundSession(stub, clock, emulators)
    finally:
        await emulators.close()
        await stub.close()


@pytest.fixture
def _outbound_test(request: pytest.FixtureRequest, _outbound_session: OutboundSession) -> Iterator[TestCapture]:
    """Per test: a clean stub, the real clock, and a capture for the report section."""
    _check_loop_scope(request.node)
    _outbound_session.stub.reset()
    _outbound_session.clock.fake = None
    capture = TestCapture(_outbound_session.stub)
    request.node.stash[CAPTURE] = capture
    capture.start()
    try:
        yield capture
    finally:
        capture.stop()
        _outbound_session.clock.fake = None


@pytest_asyncio.fixture(loop_scope=SESSION_LOOP)
async def outbound(
    request: pytest.FixtureRequest, _outbound_session: OutboundSession, _outbound_test: TestCapture
) -> Emulator:
    """The handler project, loaded in memory with every upstream host sent to the ``upstream`` stub; no
    sandboxes, empty KV/R2/Secrets Store and no audit records at the start of each test."""
    # A setup failure shows its message alone (pytrace=False, from None): where the user's code went wrong,
    # not how the emulator noticed.
    try:
        options = load_options(request.node)
    except ValueError as error:
        raise pytest.fail.Exception(str(error), pytrace=False) from None
    try:
        emulator = await _outbound_session.emulators.get(options)
    except LoadFailed as error:
        raise pytest.fail.Exception(str(error), pytrace=False) from None
    await emulator.reset()
    _outbound_test.emulator = emulator
    return emulator


@pytest.fixture
def upstream(_outbound_session: OutboundSession, _outbound_test: TestCapture) -> UpstreamStub:
    """The stub every upstream host resolves to: ``requests``/``last``/``received`` show what handlers
    forwarded, ``respond``/``route`` program its answers (default: a JSON echo of method and URL)."""
    return _outbound_session.stub


@pytest.fixture
def clock(_outbound_session: OutboundSession, _outbound_test: TestCapture) -> FakeClock:
    """The time KV and R2 see during this test (expiry, upload dates), standing at now until moved with
    ``advance(seconds)`` or ``set(ms)``. Handlers' ``Date.now()`` keeps real time."""
    fake = FakeClock(now_ms=_outbound_session.clock.now_ms())
    _outbound_session.clock.fake = fake
    return fake


@pytest.fixture
def audit(outbound: Emulator) -> AuditView:
    """Assertions on this test's audit records: ``audit.one(host=…)``, ``audit.none(…)``, ``audit.find(…)``."""
    return AuditView(outbound.audit)


def _check_loop_scope(item: pytest.Item) -> None:
    marker = item.get_closest_marker("asyncio")
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope") if marker is not None else None
    if scope not in (None, SESSION_LOOP):
        pytest.fail(
            f"{item.nodeid} runs in a {scope}-scoped event loop, but outbound's fixtures live in the session's; "
            f'drop loop_scope="{scope}" from its asyncio marker or make it loop_scope="session"',
            pytrace=False,
        )
