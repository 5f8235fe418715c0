"""Hot reload for ``outbound dev``: watch the files the serving version was built from, reload when one changes.

The watch set is what the last good build read (esbuild's metafile inputs: the entry, what it imports, the
node_modules files it bundled), the wrangler config, and every secrets file wrangler would read (``.dev.vars``,
``.env``; existing or not). Their folders are watched, each on its own (not recursively: a project's
node_modules holds thousands of folders, and only those a bundled file sits in matter), and events are
filtered down to those files. After a build that failed, a change to any source file in those folders counts
too: the fix may be the very file a broken import names, which no good build has read yet.

Changes less than ``step_ms`` apart make one reload; changes during a reload make one more after it. After
each reload the watch set is computed again (an import added or removed changes it); the new folders are
watched before the old watch stops, so no change falls between the two.

A reload that a save overtook (a file it was built from changed before it could serve: ``Reloaded.superseded``)
is discarded, and the next one waits until the files have been quiet for ``STORM_QUIET_S`` (``STORM_MAX_WAIT_S``
at most): in a storm of saves (a formatter, a checkout, a script) each reload would take the spare workers and
be overtaken in turn, so the storm makes one reload when it ends, on warm spares, rather than a queue of slow
ones behind it.

The OS watches a folder, not a path: a folder deleted and made again (``rm -rf`` and a checkout, a copy back)
is a new folder nobody watches, and one renamed away takes the watch with it. So the parents of those folders
are watched too, and a folder of the watch set appearing or vanishing there reloads and watches again: the
reload says what is gone (``reload.gone``) while the version serving stays, and the next one, once it is
back, serves it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, awatch

from emulator.emulator import Emulator
from emulator.reload import ReloadError

log = logging.getLogger("outbound")

SOURCE_SUFFIXES = frozenset((".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs", ".json"))
DEFAULT_STEP_MS = 30  # how long the files must stay quiet before a reload: one save can be several writes
RETRY_WATCH_S = 1.0
STORM_QUIET_S = 0.25  # after a reload a save overtook: how long the files must stay quiet before the next
STORM_MAX_WAIT_S = 5.0  # files that never stay quiet (a tool rewriting one for ever) still reload this often


def print_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Watcher:
    """``async with Watcher(emulator):`` reloads ``emulator`` whenever a file of its serving version changes,
    and reports each outcome as terminal lines through ``report``."""

    def __init__(
        self, emulator: Emulator, report: Callable[[str], None] = print_line, *, step_ms: int = DEFAULT_STEP_MS
    ) -> None:
        self._emulator = emulator
        self._report = report
        self._step_ms = step_ms
        self._files: frozenset[Path] = frozenset()
        self._folders: frozenset[Path] = frozenset()  # where those files sit (or sat), present or not
        self._moved = False  # one of those folders appeared, vanished or was replaced: watch it again
        self._failed = False  # the last reload failed: any source file in the watched folders counts
        self._overtaken = False  # a save overtook the last reload: wait for the storm to pass
        self._changes: asyncio.Queue[set[tuple[Change, str]]] = asyncio.Queue()
        self._watches: dict[asyncio.Task[None], asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        self._catch_up: asyncio.Task[None] | None = None
        self.reloads = 0  # reloads attempted, for tests and the bench

    async def __aenter__(self) -> Watcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Watch from now on: a change made after this returns is seen."""
        self._emulator.prepare_reloads()
        folders = await self._watch()
        self._task = asyncio.create_task(self._run(folders), name="outbound-watch")

    async def close(self) -> None:
        if self._catch_up is not None:
            self._catch_up.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for stop in self._watches.values():
            stop.set()  # watchfiles' thread sees it within a step and returns
        await asyncio.gather(*self._watches, return_exceptions=True)
        self._watches.clear()

    @property
    def files(self) -> frozenset[Path]:
        """The files watched now."""
        return self._files

    async def _run(self, folders: frozenset[Path]) -> None:
        while True:
            await self._changes.get()
            while not self._changes.empty():  # everything that piled up makes one reload
                self._changes.get_nowait()
            if self._overtaken:
                await self._quiet()
            since = time.time()
            moved, self._moved = self._moved, False  # a folder moving during the reload: one more after it
            await self._reload()
            if moved or _watched_folders(_resolved(self._emulator.watched_files())) != folders:
                folders = await self._watch()
                # The OS watches a new folder only some time after asking (watchfiles registers it from its own
                # thread): a file saved there meanwhile would be missed, so look at the files' times once then.
                self._catch_up = asyncio.create_task(self._changed_since(since))
            else:
                self._files = _resolved(self._emulator.watched_files())

    async def _quiet(self) -> None:
        """Return once no change has come for ``STORM_QUIET_S``, or after ``STORM_MAX_WAIT_S``."""
        deadline = time.monotonic() + STORM_MAX_WAIT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._changes.get(), min(STORM_QUIET_S, left))
            except TimeoutError:
                return

    async def _changed_since(self, since: float) -> None:
        await asyncio.sleep(max(2 * self._step_ms, 100) / 1000)
        for path in self._files:
            try:
                changed = path.stat().st_mtime > since
            except OSError:
                # Gone since the build: a change too, unless its folder went with it (the reload that saw the
                # folder go has said so; its coming back is seen in the parent folder).
                changed = path.parent.is_dir()
            if changed:
                self._changes.put_nowait(set())  # at worst a reload that finds nothing changed
                return

    async def _watch(self) -> frozenset[Path]:
        """Watch the serving version's files; the previous watch stops once the new one is in place."""
        self._files = _resolved(self._emulator.watched_files())
        self._folders = frozenset(path.parent for path in self._files)
        folders = _watched_folders(self._files)
        own = frozenset(folder for folder in self._folders if folder in folders)
        previous = dict(self._watches)
        stop = asyncio.Event()
        # The parents apart: one the user may not list (a shared folder) must not cost the watch of the project.
        for watched, required in ((own, True), (folders - own, False)):
            task = asyncio.create_task(self._feed(watched, stop, required), name="outbound-watch-folders")
            self._watches[task] = stop
            task.add_done_callback(lambda done: self._watches.pop(done, None))
        await asyncio.sleep(0)  # the tasks' first step registers the folders with the OS
        for old_stop in previous.values():
            old_stop.set()
        return folders

    async def _feed(self, folders: frozenset[Path], stop: asyncio.Event, required: bool) -> None:
        while not stop.is_set():
            if not folders:  # the whole project is gone, parents too: nothing to watch until a reload
                await stop.wait()
                return
            try:
                async for changes in awatch(
                    *folders,
                    watch_filter=self._wanted,
                    step=self._step_ms,
                    recursive=False,
                    stop_event=stop,
                ):
                    if any(Path(path) in self._folders for _, path in changes):
                        self._moved = True
                    self._changes.put_nowait(changes)
            except (OSError, RuntimeError) as error:  # a watched folder vanished (a branch switch), …
                if not required:  # the parents: the project still reloads, only not after `rm -rf` and a copy
                    log.debug("not watching %s for the project's folders (%s)", ", ".join(map(str, folders)), error)
                    await stop.wait()
                    return
                log.warning("watching %d folder(s) for changes failed (%s); trying again", len(folders), error)
                await asyncio.sleep(RETRY_WATCH_S)
                folders = frozenset(folder for folder in folders if folder.is_dir())

    def _wanted(self, change: Change, path: str) -> bool:
        changed = Path(path)
        if changed in self._folders:  # appeared or vanished; "modified" is its own metadata (a new subfolder)
            return change != Change.modified
        return changed in self._files or (self._failed and changed.suffix in SOURCE_SUFFIXES)

    async def _reload(self) -> None:
        self.reloads += 1
        self._overtaken = False  # until this one is overtaken too
        try:
            result = await self._emulator.reload()
        except ReloadError as error:
            self._failed = True
            self._report(f"outbound: {error.headline} — v{error.serving} keeps serving")
            if error.frame:
                self._report(_indent(error.frame))
            return
        except Exception as error:  # noqa: BLE001 - a bug must not stop the watch; the version keeps serving
            log.error("reloading failed unexpectedly; v%d keeps serving", self._emulator.version, exc_info=error)
            return
        if result.superseded:  # a file changed again before the new version could serve: build what is there next
            self._overtaken = True
            self._changes.put_nowait(set())
            return
        recovered, self._failed = self._failed, False
        if result.unchanged:
            if recovered:  # the broken edit was undone: say which version serves again
                self._report(f"outbound: v{result.version} serving (unchanged)")
            return
        self._report(f"outbound: v{result.version} serving (reloaded in {result.elapsed_ms:.0f} ms)")
        for note in result.notes:
            self._report(f"outbound: note: {note}")


def _resolved(files: set[Path]) -> frozenset[Path]:
    # Events name files by the folder watched, which is resolved: so are the files they are compared with.
    return frozenset(path.resolve() for path in files)


def _watched_folders(files: frozenset[Path]) -> frozenset[Path]:
    """The folders ``files`` sit in and their parents (where those folders appear and vanish), those there now."""
    folders = {path.parent for path in files}
    return frozenset(folder for folder in folders | {folder.parent for folder in folders} if folder.is_dir())


def _indent(frame: str) -> str:
    return "\n".join(f"    {line}" for line in frame.splitlines())
