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
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from emulator import Emulator
from emulator.reflection import mask
from emulator.watch import Watcher
from tests.e2e.conftest import traversable_folder
from tests.faults.conftest import FaultsDev
from tests.support.reloading import FIXTURE, URL, Terminal, answer, copy_project, watching
from tests.support.upstream import LocalInternet

SETTLE_S = 0.3  # longer than the watcher's quiet period: a second reload would have started by then
STORM_SAVES = 30  # saves of src/label.ts …
STORM_GAP_S = 0.1  # … this far apart: 3 s of saving, faster than a reload with cold spare workers
SANDBOXES = 3  # each asking its outbound handler through the proxy, one request after the other
WORKER_CLIENTS = 2  # each asking the Worker's fetch


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


@pytest.fixture
async def watched(project: Path) -> AsyncIterator[tuple[Emulator, Watcher, Terminal]]:
    async with watching(project) as running:
        yield running


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
    # .dev.vars holds secrets: the handler's answer carries each value masked (reflection.py), at its length
    assert await answer(emu) == b"v1 answer " + mask(len("from dev vars"))

    dev_vars.write_text("GREETING=changed\n")
    await terminal.shows(r"outbound: v3 serving .*")
    assert await answer(emu) == b"v1 answer " + mask(len("changed"))

    dev_vars.unlink()
    await terminal.shows(r"outbound: v4 serving .*")
    assert await answer(emu) == b"v1 answer hello"
    assert errors(terminal) == []


@pytest.mark.parametrize(
    "first",
    [
        "",  # an editor writing in place truncates first: this builds, and LABEL would be undefined
        'export const LABEL = "v2";\nthrow new Error("not yet");\n',  # throws while it loads; fixed meanwhile
    ],
    ids=["half-written", "throws-then-fixed"],
)
async def test_a_file_written_again_while_its_reload_starts_is_never_served_nor_reported(
    project: Path, first: str
) -> None:
    # If the rest of the save lands while that version starts, it neither serves nor prints an error about a
    # state the files are no longer in: the next reload builds what is there.
    label = project / "src" / "label.ts"
    async with Emulator.load(project, in_memory=True, workers=1) as emu:
        label.write_text(first)
        reloading = asyncio.create_task(emu.reload())
        assert emu._work_dir is not None  # noqa: SLF001 - where the build writes: it has read the files then
        await until(lambda: any(emu._work_dir.glob("v2/*.js")), what="the build")  # noqa: SLF001
        await asyncio.sleep(0.05)  # into the workers' start: the spare they take boots for ~0.35 s
        label.write_text('export const LABEL = "v2";\n')
        first = await reloading
        assert (first.superseded, emu.version, await answer(emu)) == (True, 1, b"v1 answer hello")
        assert (await emu.reload()).version == 2
        assert await answer(emu) == b"v2 answer hello"


_OTHERS: set[int] = set()  # JS workers of this process that the test did not start (a session fixture's)


@pytest.fixture(autouse=True)
def _others() -> None:  # autouse: set up before the test's own emulator starts
    _OTHERS.clear()
    _OTHERS.update(_js_worker_children())


def worker_children() -> set[int]:
    """The JS worker processes of the emulator the test started (serving, spare and retiring)."""
    return _js_worker_children() - _OTHERS


def _js_worker_children() -> set[int]:
    pid = os.getpid()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = set()
    for child in children:
        try:
            if b"emulator.runtime.worker" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(int(child))
        except OSError:
            pass  # stopped since
    return found


async def test_a_storm_faster_than_reloads_makes_one_reload_when_it_ends(
    project: Path, watched: tuple[Emulator, Watcher, Terminal]
) -> None:
    # Saves 40 ms apart overtake every reload (the watcher waits 30 ms, then build and start take longer than
    # the 10 ms left). Reloading back to back, each overtaken in turn, costs a build and often a spare worker
    # per save, and the last save waits behind the reload running when it lands (3 s under load, not 0.8 s).
    emu, watcher, terminal = watched
    label = project / "src" / "label.ts"
    await until(lambda: len(worker_children()) == 2, what="the serving worker and its spare")
    seen = worker_children()
    for index in range(40):
        label.write_text(f'export const LABEL = "s{index}";\n')
        await asyncio.sleep(0.04)
        seen |= worker_children()
    label.write_text('export const LABEL = "last";\n')
    saved = time.monotonic()
    while await answer(emu) != b"last answer hello":
        seen |= worker_children()
        assert time.monotonic() - saved < 10, terminal.lines
    served_after_s = time.monotonic() - saved
    assert watcher.reloads <= 3, terminal.lines  # the first, overtaken; the one when the storm ended; a spare
    assert len(seen) <= 2 + 3, (len(seen), watcher.reloads)  # workers: theirs and the spares that replace them
    assert errors(terminal) == []
    print(
        f"\n40 saves 40 ms apart: {watcher.reloads} reloads, {len(seen) - 2} workers started, last served after "
        f"{served_after_s * 1000:.0f} ms"
    )


async def test_a_storm_of_config_saves_changing_bindings_leaves_no_store_open(project: Path) -> None:
    # Each save names another KV namespace: a reload opens its store (SQLite, a thread and descriptors), and a
    # version that is overtaken, fails or retires must close what it opened.
    terminal = Terminal()
    config = project / "wrangler.jsonc"
    text = config.read_text()
    async with (
        Emulator.load(project, persist_to=project / ".state", workers=1) as emu,
        Watcher(emu, terminal) as watcher,
    ):
        await until(lambda: len(worker_children()) == 2, what="the serving worker and its spare")
        assert await answer(emu) == b"v1 answer hello"
        before = (len(worker_children()), len(os.listdir("/proc/self/fd")), len(os.listdir("/proc/self/task")))
        for index in range(12):
            saved = text.replace('"reload-kv"', f'"storm-kv-{index}"').replace('"hello"', f'"g{index}"')
            config.write_text(saved if index % 4 != 3 else saved + ",,")  # every fourth does not parse
            await asyncio.sleep(0.15)
        config.write_text(text.replace('"hello"', '"last"'))
        await until(lambda: any(line.startswith("outbound: v") for line in terminal.lines[-1:]), what="a version")
        deadline = time.monotonic() + 10
        while await answer(emu) != b"v1 answer last":
            assert time.monotonic() < deadline, terminal.lines
        await until(lambda: len(worker_children()) == before[0], what="retired versions to stop")
        after = (len(worker_children()), len(os.listdir("/proc/self/fd")), len(os.listdir("/proc/self/task")))
        # A little slack: anyio keeps the watcher's idle threads for 10 s (stores left open cost 4 fds and a thread).
        assert after[0] == before[0] and after[1] <= before[1] + 2 and after[2] <= before[2] + 2, (before, after)
        assert watcher.reloads > 1


# -- a storm of saves during traffic -------------------------------------------------------------------


class StormDev(FaultsDev):
    """`outbound dev` as users run it (default limits), with FaultsDev's sandbox and process helpers."""

    module = "emulator"


@dataclass(frozen=True)
class Resources:
    """What the emulator holds: its JS worker processes (serving, spare, retiring), threads, fds and RSS."""

    workers: int
    threads: int
    fds: int
    rss_mib: float

    @classmethod
    def of(cls, dev: FaultsDev) -> Resources:
        assert dev.process is not None
        pid = dev.process.pid
        return cls(
            len(dev.worker_pids()),
            len(os.listdir(f"/proc/{pid}/task")),
            len(os.listdir(f"/proc/{pid}/fd")),
            dev.rss_mib(),
        )


@pytest.fixture
async def storm_dev(tmp_path: Path) -> AsyncIterator[StormDev]:
    project = copy_project(tmp_path)
    (tmp_path / "internet").mkdir()
    async with LocalInternet(tmp_path / "internet") as internet:
        server = StormDev(project, traversable_folder("reload-storm"), internet, "explicit")
        await server.start()
        try:
            yield server
        finally:
            await server.stop()
            shutil.rmtree(server.state, ignore_errors=True)


class Traffic:
    """Clients asking over and over, each on one keep-alive connection; every answer is kept, in order."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[int, str]]] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, url: str, proxy: str | None = None) -> None:
        answers = self.answers.setdefault(name, [])

        async def ask() -> None:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                while not self._stop.is_set():
                    try:
                        async with session.get(url, proxy=proxy) as response:
                            answers.append((response.status, await response.text()))
                    except (aiohttp.ClientError, TimeoutError) as error:
                        answers.append((0, repr(error)))

        self._tasks.append(asyncio.create_task(ask(), name=f"traffic {name}"))

    def count(self) -> int:
        return sum(map(len, self.answers.values()))

    def all_served(self, label: str) -> bool:
        return all(answers and answers[-1][1].startswith(f"{label} ") for answers in self.answers.values())

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def until(condition: Callable[[], bool], timeout: float = 20, what: str = "") -> float:
    """Wait for ``condition``; how long it took, in seconds."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what or condition}"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def storm_save(index: int) -> tuple[str, str | None]:
    """The text of save ``index`` and its label if it is valid: most are; every fifth does not build, every
    seventh builds but throws while the module loads."""
    label = f"s{index}"
    if index % 5 == 4:
        return f'export const LABEL = "{label}" +;\n', None
    if index % 7 == 6:
        return f'export const LABEL = "{label}";\nthrow new Error("storm {index}");\n', None
    return f'export const LABEL = "{label}";\n', label


@pytest.mark.e2e
async def test_a_storm_of_saves_during_traffic_fails_no_request_and_leaves_nothing_running(
    storm_dev: StormDev,
) -> None:
    dev = storm_dev
    label_file = dev.project / "src" / "label.ts"
    traffic = Traffic()
    for n in range(SANDBOXES):
        sandbox = await dev.sandbox(f"storm-{n}", "Agent", "answer")
        traffic.start(sandbox.name, URL, proxy=sandbox.proxy)
    for n in range(WORKER_CLIENTS):
        traffic.start(f"worker-{n}", str(dev.info["worker"]))
    # The serving version's workers and the spares the watcher keeps for the next reload.
    await until(lambda: len(dev.worker_pids()) == 4, what="2 serving and 2 spare workers")
    await until(lambda: traffic.count() > 100, what="traffic")
    before = Resources.of(dev)

    valid = ["v1"]
    for index in range(STORM_SAVES):
        if index == STORM_SAVES // 2:  # one broken save stays long enough to be built: its error shows
            label_file.write_text('export const LABEL = "held" +;\n')
            await until(lambda: "held" in dev.log.read_text(), what="the held broken save's error")
        text, label = storm_save(index)
        label_file.write_text(text)
        valid += [label] if label else []
        await asyncio.sleep(STORM_GAP_S)
    label_file.write_text('export const LABEL = "final";\n')
    valid.append("final")
    final_after_s = await until(lambda: traffic.all_served("final"), what="the last save to serve everywhere")
    peak = Resources.of(dev)
    settled_after_s = await until(lambda: len(dev.worker_pids()) == before.workers, what="retired versions to stop")
    count = traffic.count()
    await until(lambda: traffic.count() > count + 50, what="traffic after the storm")
    after = Resources.of(dev)
    await traffic.stop()

    for name, answers in traffic.answers.items():
        assert [answer for answer in answers if answer[0] != 200] == [], name
        labels = [body.split(" ", 1)[0] for _, body in answers]
        assert set(labels) <= set(valid), (name, set(labels) - set(valid))  # never a broken version
        order = [valid.index(label) for label in labels]
        assert order == sorted(order), name  # and never an older one again
        assert labels[-1] == "final", name
    log = dev.log.read_text()
    assert re.search(r'^outbound: src/label\.ts:1:\d+: error: .* — v\d+ keeps serving\n.*"held" \+;', log, re.M), log
    assert not re.search(r"Traceback|did not stop cleanly|cut off|unexpectedly", log), log
    # Nothing left behind: retired versions' workers stopped, the spares refilled to two, no thread or fd kept.
    assert after.workers == before.workers, (before, after)
    assert after.threads <= before.threads + 2 and after.fds <= before.fds + 2, (before, after)  # idle anyio threads
    assert after.rss_mib < before.rss_mib + 40, (before, after)
    print(
        f"\nstorm: {STORM_SAVES} saves in {STORM_SAVES * STORM_GAP_S:.0f} s, {traffic.count()} requests, 0 failed; "
        f"last save served everywhere after {final_after_s * 1000:.0f} ms; workers {before.workers} → "
        f"{peak.workers} when it served → {after.workers} {settled_after_s:.1f} s later; emulator RSS "
        f"{before.rss_mib:.0f} → {after.rss_mib:.0f} MiB; threads {before.threads} → {after.threads}; "
        f"fds {before.fds} → {after.fds}"
    )
