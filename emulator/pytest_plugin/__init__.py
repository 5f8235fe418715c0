"""outbound's pytest plugin: test an outbound handler project in CI, against the same decision procedure,
runtime and bindings the emulator runs, with nothing leaving the machine.

Installed with the package (the ``pytest11`` entry point ``outbound``); a test asks for what it needs::

    async def test_token_reaches_github_and_not_the_sandbox(outbound, upstream):
        response = await outbound.sandbox("agent-1").fetch("https://api.github.com/user")
        assert response.status == 200
        assert upstream.last.headers["authorization"] == "Bearer …"

Fixtures (``fixtures.py``):

    outbound   the project's ``Emulator``, in memory; each test starts with no sandboxes, empty bindings and
               no audit records (``Emulator.reset``; a project is loaded once per session, ``emulators.py``)
    upstream   the ``UpstreamStub`` every host resolves to: what handlers forwarded, answers as programmed
    clock      a ``bindings.FakeClock`` that KV and R2 expiry follow during the test
    audit      an ``AuditView``: ``one``/``none``/``find`` on the test's audit records

Which project: ``@pytest.mark.outbound(project=…)``, ``--outbound-project``, the ``outbound_project`` ini
option, else the wrangler config nearest above the test file (``options.py``). What the test's handlers did
(requests, handler errors with their TypeScript file:line and code frame, console output, what the stub
received) is a section of its report (``report.py``); a project that does not load fails the test at setup
with the location of the error.

Async tests and fixtures need no configuration: this module marks every coroutine test that uses the
fixtures ``asyncio(loop_scope="session")``, and runs the async fixtures of such tests in that loop too,
because the emulators live there. pytest-asyncio is required: it comes with outbound's ``test`` extra.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final

import pytest

from emulator.pytest_plugin.options import MARKER_HELP, add_options

if TYPE_CHECKING:
    from emulator.pytest_plugin.audit import AuditView
    from emulator.pytest_plugin.report import TestCapture
    from emulator.pytest_plugin.stub import StubResponse, UpstreamRequest, UpstreamStub

__all__ = ["AuditView", "StubResponse", "UpstreamRequest", "UpstreamStub"]

_EXPORTS = {
    "AuditView": "emulator.pytest_plugin.audit",
    "StubResponse": "emulator.pytest_plugin.stub",
    "UpstreamRequest": "emulator.pytest_plugin.stub",
    "UpstreamStub": "emulator.pytest_plugin.stub",
}

SESSION_FIXTURE = "_outbound_session"  # every fixture of the plugin depends on it
SESSION_LOOP: Final = "session"
CAPTURE: pytest.StashKey[TestCapture] = pytest.StashKey()
_ASYNCIO_PLUGIN = "asyncio"  # pytest-asyncio's entry point name
_FIXTURES = "outbound-fixtures"
_LOOP_SCOPE = "_loop_scope"  # pytest-asyncio's attribute on fixture functions


def __getattr__(name: str) -> Any:
    # The names load on first use: pytest imports this module in every run, whether a test uses it or not.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'emulator.pytest_plugin' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    if config.pluginmanager.has_plugin(_ASYNCIO_PLUGIN):
        fixtures = importlib.import_module("emulator.pytest_plugin.fixtures")
    else:
        fixtures = importlib.import_module("emulator.pytest_plugin.no_asyncio")
    if config.pluginmanager.get_plugin(_FIXTURES) is None:
        config.pluginmanager.register(fixtures, _FIXTURES)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    # trylast: inside pytest-asyncio's wrapper, so the marker is there when it turns coroutines into its items.
    collected = yield
    if collected and collector.config.pluginmanager.has_plugin(_ASYNCIO_PLUGIN):
        for item in collected if isinstance(collected, list) else [collected]:
            if isinstance(item, pytest.Function) and _uses_outbound(item) and inspect.iscoroutinefunction(item.obj):
                _run_in_session_loop(item)
    return collected


def _uses_outbound(item: pytest.Item) -> bool:
    return SESSION_FIXTURE in getattr(item, "fixturenames", ())


def _run_in_session_loop(item: pytest.Function) -> None:
    marker = item.get_closest_marker("asyncio")
    if marker is None or not (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")):
        # First among its markers, so it is the closest: a bare @pytest.mark.asyncio would mean the default
        # loop scope. An explicit other loop_scope is left alone and reported by the fixture (fixtures.py).
        item.add_marker(pytest.mark.asyncio(loop_scope=SESSION_LOOP), append=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """An async fixture of a test that uses outbound starts in the session loop, as the test runs there.

    tryfirst: outside pytest-asyncio's wrapper, which reads the loop scope from the fixture function (the
    attribute ``@pytest_asyncio.fixture(loop_scope=…)`` sets) when the fixture starts. It is set for this
    setup only: the same fixture may serve other tests in their own loops.
    """
    function = getattr(fixturedef.func, "__func__", fixturedef.func)
    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    if not (is_async and request.scope == "function" and _uses_outbound(request.node)):
        return (yield)
    declared = getattr(function, _LOOP_SCOPE, None)
    if declared not in (None, SESSION_LOOP):
        pytest.fail(
            f"fixture {fixturedef.argname!r} of {request.node.nodeid} runs in a {declared}-scoped event loop, but "
            f"outbound's fixtures live in the session's; declare it @pytest_asyncio.fixture(loop_scope=\"session\")",
            pytrace=False,
        )
    had = hasattr(function, _LOOP_SCOPE)
    setattr(function, _LOOP_SCOPE, SESSION_LOOP)
    try:
        return (yield)
    finally:
        if had:
            setattr(function, _LOOP_SCOPE, declared)
        else:
            delattr(function, _LOOP_SCOPE)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    if call.when == "call":
        capture = item.stash.get(CAPTURE, None)
        text = capture.render() if capture is not None else ""
        if text:
            item.add_report_section("call", "outbound", text)
    return (yield)
