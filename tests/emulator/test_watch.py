"""watch.py: the watcher `outbound dev` runs reloads when a file the serving build read changes, and says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator import Emulator
from emulator.reflection import mask
from emulator.watch import Watcher
from tests.support.reloading import Terminal, answer, copy_project, edit, relabel, watching


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


@pytest.fixture
async def watched(project: Path) -> AsyncIterator[tuple[Emulator, Watcher, Terminal]]:
    async with watching(project) as running:
        yield running


async def test_an_edit_to_an_imported_file_reloads(project: Path, watched: tuple[Emulator, Watcher, Terminal]) -> None:
    emu, watcher, terminal = watched
    assert project / "src" / "label.ts" in watcher.files
    relabel(project, "v2")
    await terminal.shows(r"outbound: v2 serving \(reloaded in \d+ ms\)")
    assert await answer(emu) == b"v2 answer hello"


async def test_a_new_import_is_watched_from_the_reload_that_added_it(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    emu, watcher, terminal = watched
    extra = project / "src" / "lib" / "extra.ts"
    extra.parent.mkdir()
    extra.write_text('export const EXTRA = "x1";\n')
    index = project / "src" / "index.ts"
    edit(
        index,
        'import { LABEL } from "./label";',
        'import { LABEL } from "./label";\nimport { EXTRA } from "./lib/extra";',
    )
    edit(index, "new Response(`${LABEL} other`)", "new Response(`${LABEL} other ${EXTRA}`)")
    await terminal.shows(r"outbound: v2 serving .*")
    assert extra in watcher.files

    extra.write_text('export const EXTRA = "x2";\n')  # in a folder the first build did not read
    await terminal.shows(r"outbound: v3 serving .*")
    assert await answer(emu, handler="other") == b"v1 other x2"


async def test_a_broken_import_recovers_when_the_file_it_names_appears(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    emu, watcher, terminal = watched
    index = project / "src" / "index.ts"
    edit(
        index, 'import { LABEL } from "./label";', 'import { LABEL } from "./label";\nimport { EXTRA } from "./extra";'
    )
    edit(index, "new Response(`${LABEL} other`)", "new Response(`${LABEL} other ${EXTRA}`)")
    await terminal.shows(r'outbound: src/index.ts:5:23: error: Could not resolve "\./extra" — v1 keeps serving')
    assert terminal.lines[-1] == (
        '      5 │ import { EXTRA } from "./extra";\n        ╵                       ~~~~~~~~~'
    )
    assert await answer(emu) == b"v1 answer hello"

    (project / "src" / "extra.ts").write_text('export const EXTRA = "found";\n')  # no good build read it yet
    await terminal.shows(r"outbound: v2 serving .*")
    assert await answer(emu, handler="other") == b"v1 other found"


async def test_undoing_a_broken_edit_says_which_version_serves(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    emu, watcher, terminal = watched
    label = project / "src" / "label.ts"
    original = label.read_text()
    label.write_text(original + "throw new Error('not today');\n")
    await terminal.shows(
        r"outbound: src/label\.ts:2:7: error: Error: not today \(while the module loaded\) — v1 keeps serving"
    )
    label.write_text(original)
    await terminal.shows(r"outbound: v1 serving \(unchanged\)")
    assert emu.version == 1


async def test_dev_vars_appearing_reloads(project: Path, watched: tuple[Emulator, Watcher, Terminal]) -> None:
    emu, watcher, terminal = watched
    (project / ".dev.vars").write_text("GREETING=from dev vars\n")
    await terminal.shows(r"outbound: v2 serving .*")
    assert await answer(emu) == b"v1 answer " + mask(len("from dev vars"))  # a secret now: masked for the sandbox


async def test_files_the_build_did_not_read_are_ignored(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    emu, watcher, terminal = watched
    (project / "src" / "notes.ts").write_text("// not imported\n")
    (project / "README.md").write_text("notes\n")
    await asyncio.sleep(0.2)  # longer than the watcher's quiet period: these changes would have been seen
    relabel(project, "v2")
    await terminal.shows(r"outbound: v2 serving .*")
    assert watcher.reloads == 1


async def test_a_burst_of_saves_ends_on_the_last(project: Path, watched: tuple[Emulator, Watcher, Terminal]) -> None:
    emu, watcher, terminal = watched
    for label in ("v2", "v3", "v4", "v5"):
        relabel(project, label)
    await terminal.shows(r"outbound: v\d serving .*")
    deadline = time.monotonic() + 10
    while await answer(emu) != b"v5 answer hello":
        assert time.monotonic() < deadline, terminal.lines
        await asyncio.sleep(0.01)
