"""Run pytest in a child process, as a user's CI would: for the plugin's and the examples' tests.

The child finds outbound's pytest plugin through the package's ``pytest11`` entry point when this checkout is
what is installed (CI's ``pip install -e '.[test]'``); a virtualenv that holds another checkout's install (a
developer's worktree) does not have the entry point for this one, so the child is given ``-p`` instead. The
child imports this checkout either way (``PYTHONPATH``), and so do the JS workers it starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "emulator.pytest_plugin"


def plugin_entry_point_installed() -> bool:
    return any(entry.value == PLUGIN for entry in entry_points(group="pytest11"))


def run_pytest(folder: Path, *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` in ``folder``, output captured; no cache folder left behind."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    plugin = [] if plugin_entry_point_installed() else ["-p", PLUGIN]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def user_project(folder: Path, tests: dict[str, str]) -> Path:
    """A copy of fixtures/handlers/pytest-plugin in ``folder`` with ``tests`` (file name → source) in its
    tests/ folder, outside any pytest configuration: what a user's fresh project looks like."""
    project = folder / "project"
    shutil.copytree(REPO / "fixtures" / "handlers" / "pytest-plugin", project)
    (project / "tests").mkdir()
    for name, source in tests.items():
        (project / "tests" / name).write_text(textwrap.dedent(source))
    return project


def outcomes(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Test name → PASSED/FAILED/ERROR/SKIPPED, from the short summary of a run with ``-rA``."""
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR", "SKIPPED") and "::" in rest:
            found[rest.split("::", 1)[1].split(" ")[0]] = word
    return found
