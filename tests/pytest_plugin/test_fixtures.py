"""emulator/pytest_plugin/fixtures.py in a user's project with no pytest configuration (pytest-asyncio in
strict mode, function-scoped loops by default): fresh state per test, the clock, async tests and fixtures
in the session loop without markers, and clear errors where a test insists on another loop."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.pytest_run import outcomes, run_pytest, user_project

USER_TESTS = """
    import asyncio
    import time

    import pytest
    import pytest_asyncio


    async def test_a_leaves_state_behind(outbound, upstream, clock):
        sandbox = outbound.sandbox("agent-1")
        await sandbox.deny_host("example.com")
        await outbound.bindings["KV"].put("left", b"over")
        upstream.respond(status=500)
        clock.advance(3600)
        assert (await sandbox.fetch("https://kv.test/left")).text() == "over"


    async def test_b_starts_fresh(outbound, upstream, audit):
        assert await outbound.sandboxes() == []
        assert audit.records == [] and upstream.requests == []
        assert (await outbound.sandbox("agent-1").fetch("https://kv.test/left")).text() == ""
        assert (await outbound.sandbox("agent-1").fetch("https://example.com/")).status == 200  # no rule left
        assert abs(outbound.clock.now_ms() - time.time() * 1000) < 60_000  # the real clock again


    async def test_the_clock_moves_kv_expiry(outbound, clock):
        await outbound.bindings["KV"].put("session", b"token", expiration_ttl=60)
        sandbox = outbound.sandbox("agent-1")
        assert (await sandbox.fetch("https://kv.test/session")).text() == "token"
        clock.advance(61)
        assert (await sandbox.fetch("https://kv.test/session")).text() == ""


    @pytest_asyncio.fixture
    async def seeded(outbound):
        await outbound.bindings["KV"].put("greeting", b"seeded")
        return outbound.sandbox("agent-1")


    async def test_a_users_async_fixture_shares_the_loop(seeded):
        assert (await seeded.fetch("https://kv.test/greeting")).text() == "seeded"


    @pytest_asyncio.fixture
    async def loop():
        return asyncio.get_running_loop()


    async def test_a_shared_fixture_runs_in_the_session_loop_for_outbound(loop, outbound):
        assert loop is asyncio.get_running_loop()


    @pytest.mark.asyncio
    async def test_and_in_the_tests_own_loop_for_others(loop):
        assert loop is asyncio.get_running_loop()


    def test_a_sync_test_gets_the_emulator(outbound):
        assert outbound.container_classes == {"TestSandbox": "TestSandbox"}


    @pytest.mark.asyncio(loop_scope="function")
    async def test_in_another_loop(outbound):
        pass


    @pytest_asyncio.fixture(loop_scope="function")
    async def pinned(outbound):
        return outbound


    async def test_with_a_fixture_in_another_loop(pinned):
        pass
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    return run_pytest(user_project(tmp_path_factory.mktemp("fixtures"), {"test_user.py": USER_TESTS}), "-rA")


def test_state_is_fresh_per_test_and_async_needs_no_configuration(run: subprocess.CompletedProcess[str]) -> None:
    assert outcomes(run) == {
        "test_a_leaves_state_behind": "PASSED",
        "test_b_starts_fresh": "PASSED",
        "test_the_clock_moves_kv_expiry": "PASSED",
        "test_a_users_async_fixture_shares_the_loop": "PASSED",
        "test_a_shared_fixture_runs_in_the_session_loop_for_outbound": "PASSED",
        "test_and_in_the_tests_own_loop_for_others": "PASSED",
        "test_a_sync_test_gets_the_emulator": "PASSED",
        "test_in_another_loop": "ERROR",
        "test_with_a_fixture_in_another_loop": "ERROR",
    }, run.stdout + run.stderr


def test_another_loop_is_refused_saying_what_to_change(run: subprocess.CompletedProcess[str]) -> None:
    assert (
        "tests/test_user.py::test_in_another_loop runs in a function-scoped event loop, but outbound's fixtures live "
        'in the session\'s; drop loop_scope="function" from its asyncio marker or make it loop_scope="session"'
    ) in run.stdout
    assert (
        "fixture 'pinned' of tests/test_user.py::test_with_a_fixture_in_another_loop runs in a function-scoped "
        "event loop, but outbound's fixtures live in the session's; declare it "
        '@pytest_asyncio.fixture(loop_scope="session")'
    ) in run.stdout


def test_without_pytest_asyncio_the_fixtures_say_what_to_install(tmp_path: Path) -> None:
    project = user_project(tmp_path, {"test_user.py": "def test_x(outbound):\n    pass\n"})
    result = run_pytest(project, "-p", "no:asyncio")
    assert (
        "outbound's pytest fixtures run in pytest-asyncio's event loop, and pytest-asyncio is not installed: "
        "install outbound with its test extra (pip install -e '.[test]' in a checkout) or pip install pytest-asyncio"
    ) in result.stdout, result.stdout
    assert result.returncode == 1
