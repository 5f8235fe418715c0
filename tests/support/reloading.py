"""What the hot-reload tests share (tests/emulator/test_watch.py, test_reload.py, tests/faults/test_reload_faults.py):
a copy of fixtures/handlers/reload to edit, the terminal the watcher prints to, and the handler's answer."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from emulator import Emulator
from emulator.watch import Watcher

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "handlers" / "reload"
URL = "http://anywhere.test/"


class Terminal:
    """What the watcher printed, and a way to wait for a line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    async def shows(self, pattern: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines if re.fullmatch(pattern, line, re.DOTALL)]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no line matches {pattern!r}; the terminal shows {self.lines}"
            await asyncio.sleep(0.01)


def copy_project(folder: Path) -> Path:
    """A copy of the reload fixture in ``folder``/project, free to edit."""
    return Path(shutil.copytree(FIXTURE, folder / "project"))


@asynccontextmanager
async def watching(project: Path) -> AsyncIterator[tuple[Emulator, Watcher, Terminal]]:
    """The project loaded in memory with one worker, and the watcher `outbound dev` runs, printing to a Terminal."""
    terminal = Terminal()
    async with Emulator.load(project, in_memory=True, workers=1) as emu, Watcher(emu, terminal) as watcher:
        yield emu, watcher, terminal


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))


def relabel(project: Path, label: str) -> None:
    (project / "src" / "label.ts").write_text(f'export const LABEL = "{label}";\n')


async def answer(emu: Emulator, sandbox_id: str = "s1", handler: str = "answer") -> bytes:
    """What the handler answers sandbox ``sandbox_id`` (class Agent, the fixture's only one)."""
    sandbox = emu.sandbox(sandbox_id)
    await sandbox.set_outbound_handler(handler)
    return (await sandbox.fetch(URL)).body
