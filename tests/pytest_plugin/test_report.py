"""emulator/pytest_plugin/report.py, as a user sees it: a failing test's report shows what its handlers did,
a handler error with its TypeScript file:line and code frame, and a project that does not load fails at
setup with the location of the error instead of a traceback through the emulator."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.pytest_run import REPO, outcomes, run_pytest, user_project

FIXTURE = REPO / "fixtures" / "handlers" / "pytest-plugin" / "src" / "index.ts"
BROKEN = REPO / "fixtures" / "broken" / "throws-at-load.ts"
SECRET = "tok_pytest_plugin_secret_value"  # the fixture's .dev.vars

USER_TESTS = f"""
    import pytest

    async def test_deploy_reaches_the_registry(outbound, upstream):
        upstream.respond("api.github.com", json={{"ok": True}})
        assert (await outbound.sandbox("agent-1").fetch("https://api.github.com/")).status == 200
        response = await outbound.sandbox("agent-1").fetch("https://throws.test/deploy")
        assert response.status == 200

    async def test_a_passing_test_shows_no_section(outbound):
        assert (await outbound.sandbox("agent-1").fetch("https://greeting.test/")).text() == "hello"

    @pytest.mark.outbound(project={str(BROKEN)!r})
    async def test_one_on_a_broken_project(outbound):
        pass

    @pytest.mark.outbound(project={str(BROKEN)!r})
    async def test_another_on_a_broken_project(outbound):
        pass
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    return run_pytest(user_project(tmp_path_factory.mktemp("report"), {"test_user.py": USER_TESTS}), "-rA")


def section(output: str, title: str) -> str:
    """The text of the report section whose header line contains ``title``."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line and line.startswith("-"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(("-", "=", "_")))
    return "\n".join(lines[start + 1 : end])


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_outcomes_are_one_failure_two_setup_errors_and_a_pass(run: subprocess.CompletedProcess[str]) -> None:
    assert outcomes(run) == {
        "test_deploy_reaches_the_registry": "FAILED",
        "test_a_passing_test_shows_no_section": "PASSED",
        "test_one_on_a_broken_project": "ERROR",
        "test_another_on_a_broken_project": "ERROR",
    }, run.stdout + run.stderr


def test_a_handler_error_shows_its_typescript_location_and_code(run: subprocess.CompletedProcess[str]) -> None:
    throw = line_of(FIXTURE, 'throw new TypeError("the upstream token is missing")')
    text = section(run.stdout, "Captured outbound call")
    error = (
        'ERROR: sandbox agent-1: outboundByHost["throws.test"] of TestSandbox failed: '
        "TypeError: the upstream token is missing\n"
        f'    at TestSandbox.outboundByHost["throws.test"] (src/index.ts:{throw}:11)'
    )
    assert error in text
    assert f'> {throw} |     throw new TypeError("the upstream token is missing");' in text


def test_the_section_tells_the_requests_console_and_upstream_in_order(run: subprocess.CompletedProcess[str]) -> None:
    lines = section(run.stdout, "Captured outbound call").splitlines()
    assert " agent-1 GET https://api.github.com/ → 200 by outbound (static catch-all) " in lines[0]
    assert lines[1] == "upstream stub received GET https://api.github.com/ (headers: host, authorization)"
    assert (
        ' agent-1 GET https://throws.test/deploy → 500 by outboundByHost["throws.test"] (static per-host) ' in lines[2]
    )
    assert lines[3] == "    console.log: about to fail on https://throws.test/deploy with [redacted]"
    throw = line_of(FIXTURE, 'throw new TypeError("the upstream token is missing")')
    assert lines[4] == f"    error: TypeError: the upstream token is missing at src/index.ts:{throw}:11"
    assert lines[5].startswith("ERROR: sandbox agent-1: ")


def test_secrets_stay_out_of_the_report(run: subprocess.CompletedProcess[str]) -> None:
    assert SECRET not in run.stdout + run.stderr


def test_a_passing_test_has_no_section_unless_asked(run: subprocess.CompletedProcess[str]) -> None:
    passed = run.stdout.split("PASSES", 1)[1] if "PASSES" in run.stdout else ""
    assert "test_a_passing_test_shows_no_section" in passed  # -rA shows passed tests' sections…
    assert "GET https://greeting.test/ → 200" in passed  # …and theirs is there


def test_a_module_that_throws_at_load_fails_setup_with_its_location(run: subprocess.CompletedProcess[str]) -> None:
    where = line_of(BROKEN, "Broken.outboundByHost = ")
    # Counted before the short summary: on CI (``CI`` set) pytest repeats each whole message there.
    errors = run.stdout.split("short test summary info", 1)[0]
    assert errors.count(f"outbound could not load {BROKEN}:\nthrows-at-load.ts threw while loading at ") == 2
    assert f"throws-at-load.ts:{where}:44" in run.stdout
    assert f"> {where} | Broken.outboundByHost = Object.fromEntries(settings!.hosts" in run.stdout
    assert "emulator/emulator.py" not in run.stdout  # no traceback through the emulator's internals
