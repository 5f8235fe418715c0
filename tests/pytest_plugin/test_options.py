"""emulator/pytest_plugin/options.py, as a user meets it: the project comes from the marker, then
--outbound-project, then the outbound_project ini option, then the wrangler config nearest above the test;
markers merge from module to test; a mistake fails the test saying what to fix."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.pytest_run import REPO, outcomes, run_pytest, user_project

BROKEN = REPO / "fixtures" / "broken" / "throws-at-load.ts"

MARKED = """
    import pytest

    pytestmark = pytest.mark.outbound(project="..")  # relative to this file's folder


    async def test_the_config_var(outbound):
        assert (await outbound.sandbox("a").fetch("https://greeting.test/")).text() == "hello"


    @pytest.mark.outbound(vars={"GREETING": "hi"})
    async def test_a_test_adds_vars_to_the_modules_marker(outbound):
        assert outbound.config.root.name == "project"
        assert (await outbound.sandbox("a").fetch("https://greeting.test/")).text() == "hi"


    @pytest.mark.outbound(project="..", port=8080)
    async def test_an_unknown_marker_argument(outbound):
        pass
"""

LOST = """
    async def test_lost(outbound):
        assert (await outbound.sandbox("a").fetch("https://greeting.test/")).text() == "hello"
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("options")
    project = user_project(root, {"test_marked.py": MARKED})
    elsewhere = root / "elsewhere"  # no wrangler config here or above
    elsewhere.mkdir()
    (elsewhere / "test_lost.py").write_text(textwrap.dedent(LOST))
    return project, elsewhere


@pytest.fixture(scope="module")
def marked(folders: tuple[Path, Path]) -> subprocess.CompletedProcess[str]:
    project, elsewhere = folders
    return run_pytest(project, "--strict-markers", "-rA", "tests", str(elsewhere))


def test_markers_merge_and_are_registered(marked: subprocess.CompletedProcess[str]) -> None:
    assert outcomes(marked) == {
        "test_the_config_var": "PASSED",
        "test_a_test_adds_vars_to_the_modules_marker": "PASSED",
        "test_an_unknown_marker_argument": "ERROR",
        "test_lost": "ERROR",
    }, marked.stdout + marked.stderr


def test_mistakes_say_what_to_fix(marked: subprocess.CompletedProcess[str], folders: tuple[Path, Path]) -> None:
    _, elsewhere = folders
    assert (
        "@pytest.mark.outbound got unknown argument(s) port; it takes project, env, vars, connect_to, workers"
    ) in marked.stdout
    lost = " ".join(marked.stdout.split())  # pytest wraps the long message
    assert (
        f"no wrangler.json, wrangler.jsonc, wrangler.toml in {elsewhere} or its parents, so the outbound fixture "
        "does not know which project to load; name it with @pytest.mark.outbound(project=…), --outbound-project "
        "PATH or the outbound_project ini option"
    ) in lost


def test_the_ini_option_names_the_project_and_the_command_line_beats_it(folders: tuple[Path, Path]) -> None:
    project, elsewhere = folders
    (elsewhere / "pytest.ini").write_text("[pytest]\noutbound_project = ../project\n")
    by_ini = run_pytest(elsewhere, "-rA")
    by_option = run_pytest(elsewhere, "-rA", "--outbound-project", str(BROKEN))

    assert outcomes(by_ini) == {"test_lost": "PASSED"}, by_ini.stdout + by_ini.stderr
    assert outcomes(by_option) == {"test_lost": "ERROR"}, by_option.stdout
    assert f"outbound could not load {BROKEN}:" in by_option.stdout
