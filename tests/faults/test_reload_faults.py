"""Reload faults: a storm of saves during traffic, and the project's files going away while it serves.

Each fault is contained: the version serving keeps serving, the terminal says what happened and what to do, and
the next good state of the files is served. The storm runs a real `outbound dev` (e2e) with sandboxes and the
Worker's fetch busy; the file faults drive the watcher `outbound dev` runs (watch.py) in-process, which is
faster and prints the same lines.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from emulator import Emulator
from emulator.watch import Watcher
from tests.e2e.conftest import ROOT
from tests.emulator.test_watch import Terminal

FIXTURE = ROOT / "fixtures" / "handlers" / "reload"
URL = "http://anywhere.test/"
SETTLE_S = 0.3  # longer than the watcher's quiet period: a second reload would have started by then


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "project"))


@pytest.fixture
async def watched(project: Path) -> AsyncIterator[tuple[Emulator, Watcher, Terminal]]:
    terminal = Terminal()
    async with Emulator.load(project, in_memory=True, workers=1) as emu, Watcher(emu, terminal) as watcher:
        yield emu, watcher, terminal


async def answer(emu: Emulator) -> bytes:
    sandbox = emu.sandbox("s1", cls="Agent")
    await sandbox.set_outbound_handler("answer")
    return (await sandbox.fetch(URL)).body


def errors(terminal: Terminal) -> list[str]:
    return [line for line in terminal.lines if "error" in line]


# -- files going away ------------------------------------------------------------------------------------


@pytest.mark.parametrize("back", ["same", "changed"])
async def test_a_deleted_config_keeps_the_version_serving_until_it_is_back(
    project: Path, watched: tuple[Emulator, Watcher, Terminal], back: str
) -> None:
    emu, watcher, terminal = watched
    config = project / "wrangler.jsonc"
    text = config.read_text()
    config.unlink()
    await terminal.shows(
        r"outbound: error: wrangler\.jsonc was deleted or moved away; outbound reloads when it is back "
        r"— v1 keeps serving"
    )
    assert await answer(emu) == b"v1 answer hello"

    if back == "same":
        config.write_text(text)
        await terminal.shows(r"outbound: v1 serving \(unchanged\)")
        assert await answer(emu) == b"v1 answer hello"
    else:
        config.write_text(text.replace('"hello"', '"back"'))
        await terminal.shows(r"outbound: v2 serving \(reloaded in \d+ ms\)")
        assert await answer(emu) == b"v1 answer back"


async def test_a_config_replaced_by_invalid_jsonc_keeps_the_version_serving(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    emu, watcher, terminal = watched
    config = project / "wrangler.jsonc"
    text = config.read_text()
    config.write_text("{ nope")
    await terminal.shows(r"outbound: error: \S*wrangler\.jsonc:1:3: unexpected \"nope\"; .* — v1 keeps serving")
    assert await answer(emu) == b"v1 answer hello"
    config.write_text(text.replace('"hello"', '"fixed"'))
    await terminal.shows(r"outbound: v2 serving .*")
    assert await answer(emu) == b"v1 answer fixed"


async def test_a_deleted_entry_keeps_the_version_serving_until_it_is_back(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    emu, watcher, terminal = watched
    entry = project / "src" / "index.ts"
    text = entry.read_text()
    entry.unlink()
    await terminal.shows(
        r'outbound: error: \S*wrangler\.jsonc: main "src/index\.ts" does not exist .* — v1 keeps serving'
    )
    assert await answer(emu) == b"v1 answer hello"
    entry.write_text(text)
    await terminal.shows(r"outbound: v1 serving \(unchanged\)")
    assert await answer(emu) == b"v1 answer hello"


async def test_the_project_folder_renamed_away_and_back(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    emu, watcher, terminal = watched
    away = project.with_name("away")
    project.rename(away)
    gone = re.escape(f"the project folder {project.resolve()} is gone (deleted or renamed)")
    await terminal.shows(rf"outbound: error: {gone}; .* — v1 keeps serving")
    assert await answer(emu) == b"v1 answer hello"

    away.rename(project)
    await terminal.shows(r"outbound: v1 serving \(unchanged\)")
    (project / "src" / "label.ts").write_text('export const LABEL = "v2";\n')  # and the watch follows it again
    await terminal.shows(r"outbound: v2 serving .*")
    assert await answer(emu) == b"v2 answer hello"


async def test_the_project_folder_deleted_and_made_again(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    # A branch switch or `rm -rf` and a copy: the new folders are not the ones the OS was watching.
    emu, watcher, terminal = watched
    shutil.rmtree(project)
    await terminal.shows(r"outbound: error: the project folder .* is gone .* — v1 keeps serving")
    assert await answer(emu) == b"v1 answer hello"
    await asyncio.sleep(1.5)  # it stays gone for a while (longer than watch.py's retry of a vanished folder)

    shutil.copytree(FIXTURE, project)
    await terminal.shows(r"outbound: v1 serving \(unchanged\)")
    (project / "src" / "label.ts").write_text('export const LABEL = "v2";\n')
    await terminal.shows(r"outbound: v2 serving .*")
    assert await answer(emu) == b"v2 answer hello"


def temp_and_rename(path: Path, text: str) -> None:
    """Most editors and formatters: write a temporary file beside it, rename it over the original."""
    temporary = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    temporary.write_text(text)
    temporary.replace(path)


def backup_and_write(path: Path, text: str) -> None:
    """vim (backupcopy=no): rename the original to a backup, write a new file, delete the backup."""
    backup = path.with_name(path.name + "~")
    path.rename(backup)
    path.write_text(text)
    backup.unlink()


def safe_write(path: Path, text: str) -> None:
    """JetBrains "safe write": write a temporary, move the original aside, move the temporary in, delete the old."""
    temporary, old = path.with_name(path.name + "___jb_tmp___"), path.with_name(path.name + "___jb_old___")
    temporary.write_text(text)
    path.rename(old)
    temporary.rename(path)
    old.unlink()


SAVES: dict[str, Callable[[Path, str], None]] = {
    "temp-and-rename": temp_and_rename,
    "backup-and-write": backup_and_write,
    "safe-write": safe_write,
}


@pytest.mark.parametrize("save", SAVES)
@pytest.mark.parametrize(
    ("file", "old", "new", "served"),
    [
        ("src/label.ts", '"v1"', '"v2"', b"v2 answer hello"),
        ("wrangler.jsonc", '"hello"', '"saved"', b"v1 answer saved"),
    ],
    ids=["handler", "config"],
)
async def test_an_editors_atomic_save_reloads_once_and_is_never_seen_as_deleted(
    project: Path, watched: tuple[Emulator, Watcher, Terminal], save: str, file: str, old: str, new: str, served: bytes
) -> None:
    emu, watcher, terminal = watched
    path = project / file
    SAVES[save](path, path.read_text().replace(old, new))
    await terminal.shows(r"outbound: v2 serving \(reloaded in \d+ ms\)")
    await asyncio.sleep(SETTLE_S)
    assert (watcher.reloads, errors(terminal)) == (1, [])
    assert await answer(emu) == served


async def test_dev_vars_changed_or_deleted_reload_the_vars(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    # As `wrangler dev`: .dev.vars is read again on every change; without it, the config's vars are what is left.
    emu, watcher, terminal = watched
    dev_vars = project / ".dev.vars"
    dev_vars.write_text("GREETING=from dev vars\n")
    await terminal.shows(r"outbound: v2 serving .*")
    assert await answer(emu) == b"v1 answer from dev vars"

    dev_vars.write_text("GREETING=changed\n")
    await terminal.shows(r"outbound: v3 serving .*")
    assert await answer(emu) == b"v1 answer changed"

    dev_vars.unlink()
    await terminal.shows(r"outbound: v4 serving .*")
    assert await answer(emu) == b"v1 answer hello"
    assert errors(terminal) == []
