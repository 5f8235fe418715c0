"""Each example's own tests, written with the pytest plugin, pass with plain `pytest` in its folder, and in a
copy of the folder outside this repository (no pytest configuration at all, as in a user's new project)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.pytest_run import REPO, run_pytest

EXAMPLES = sorted(path.name for path in (REPO / "examples").iterdir() if (path / "tests").is_dir())


def assert_passed(result: subprocess.CompletedProcess[str]) -> None:
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0 and " passed" in last and "failed" not in last and "error" not in last, (
        result.stdout + result.stderr
    )


def test_every_example_has_tests() -> None:
    assert EXAMPLES == [
        "credential-injection",
        "get-only-logging",
        "lockdown",
        "per-container-credentials",
        "virtual-hosts",
    ]


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_examples_tests_pass_with_plain_pytest_in_its_folder(example: str) -> None:
    assert_passed(run_pytest(REPO / "examples" / example))


def test_a_copied_example_needs_no_configuration(tmp_path: Path) -> None:
    copy = shutil.copytree(REPO / "examples" / "credential-injection", tmp_path / "credential-injection")
    assert_passed(run_pytest(copy))
