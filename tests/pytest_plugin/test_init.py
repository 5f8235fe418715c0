"""emulator/pytest_plugin/__init__.py: its public names resolve, and pytest pays little for loading it in
every run (the entry point loads it whether a test uses it or not)."""

from __future__ import annotations

import subprocess
import sys

import emulator.pytest_plugin as plugin
from tests.support.pytest_run import REPO


def test_all_names_resolve() -> None:
    for name in plugin.__all__:
        assert getattr(plugin, name).__name__ == name


def test_loading_the_plugin_imports_neither_the_emulator_nor_an_http_stack() -> None:
    heavy = ("aiohttp", "mitmproxy", "pythonmonkey", "pytest_asyncio", "emulator.emulator")
    probe = f"import sys, emulator.pytest_plugin; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
