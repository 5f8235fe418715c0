"""What a hot reload reports: the version now serving, or why the new one could not start.

``Emulator.reload`` builds and starts a new version beside the serving one (``version.py``); this module turns
the ways that can fail into one ``ReloadError`` that names the user's file, line and column with a code
frame, whatever failed:

- esbuild could not bundle (a syntax error, an import that does not resolve): its own message and frame;
- the module threw while it loaded, or a Container class's constructor threw: the innermost frame of the
  user's code, mapped through the source map, and the source around it;
- the config (wrangler.jsonc/.toml, .dev.vars) is invalid: ``ConfigError`` names the file and key already;
- the config file (or, without one, the entry) is gone, or the whole project folder: ``gone`` says which and
  that the version serving stays until it is back (``watch.py`` reloads when it reappears);
- a config change that only a restart applies is not an error: ``restart_notes`` says what stays as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emulator.config import WorkerConfig
from emulator.errors import UserError
from emulator.runtime.bundle import BuildError
from emulator.runtime.sourcemap import StackMapper


@dataclass(frozen=True)
class Reloaded:
    """A reload that worked: ``version`` serves now (the same one when nothing the build reads changed)."""

    version: int
    elapsed_ms: float
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # config changes a running emulator cannot apply (restart_notes)
    unchanged: bool = False
    # A file the build read changed again before the new version could serve: it was discarded (it may have
    # read a file half-written) and ``version`` still serves; reload again.
    superseded: bool = False


class ReloadError(UserError):
    """The new version could not start; version ``serving`` keeps serving.

    ``location`` is ``file:line:column`` in the user's project when the failure has one, ``frame`` the source
    around it (esbuild's, or the source map's).
    """

    def __init__(self, problem: str, *, location: str | None, frame: str = "", serving: int) -> None:
        self.problem = problem
        self.location = location
        self.frame = frame
        self.serving = serving
        super().__init__(self.headline + (f"\n{frame}" if frame else ""))

    @property
    def headline(self) -> str:
        return f"{self.location}: error: {self.problem}" if self.location else f"error: {self.problem}"


def build_failed(error: BuildError, serving: int) -> ReloadError:
    """esbuild's errors: the first names the location; every message and frame is kept."""
    first, *rest = error.messages or []
    location = f"{first.file}:{first.line}:{first.column}" if first and first.file else None
    problem = first.text if first else str(error)
    frame = "\n".join(part for part in [first.frame if first else "", *(str(m) for m in rest)] if part)
    return ReloadError(problem, location=location, frame=frame, serving=serving)


def threw(what: str, error: dict[str, str], stacks: StackMapper, entry: str, serving: int) -> ReloadError:
    """A JS exception while the new version loaded (``what``: where it happened) at the user's TS position."""
    stack = error.get("stack", "")
    location = stacks.innermost(stack)
    problem = f"{error.get('name', 'Error')}: {error.get('message', '')} ({what})"
    return ReloadError(problem, location=location or entry, frame=stacks.code_frame(stack), serving=serving)


def gone(config: WorkerConfig, serving: int) -> ReloadError | None:
    """The file the serving version was loaded from (the wrangler config, else the entry) or its project folder
    is no longer there: deleted, or moved away by a branch switch or a rename. None if it is there."""
    path = config.path or config.main
    if path.is_file():
        return None
    if not config.root.is_dir():
        problem = (
            f"the project folder {config.root} is gone (deleted or renamed); outbound reloads when it is back, "
            "or restart `outbound dev` where the project is now"
        )
    else:
        shown = path.relative_to(config.root) if path.is_relative_to(config.root) else path
        problem = f"{shown} was deleted or moved away; outbound reloads when it is back"
    return ReloadError(problem, location=None, serving=serving)


Stamps = dict[Path, tuple[int, int] | None]


def stamps(paths: Iterable[Path]) -> Stamps:
    """Each file's modification time and size (None: not there), to tell whether it changed since."""
    found: Stamps = {}
    for path in paths:
        try:
            status = path.stat()
        except OSError:
            found[path] = None
        else:
            found[path] = (status.st_mtime_ns, status.st_size)
    return found


def restart_notes(before: WorkerConfig, after: WorkerConfig) -> tuple[str, ...]:
    """Config changes the running emulator keeps as they were until it restarts."""
    notes = []
    if (before.dev_ip, before.dev_port) != (after.dev_ip, after.dev_port):
        notes.append(
            f"dev.ip/dev.port changed ({before.dev_ip}:{before.dev_port} → {after.dev_ip}:{after.dev_port}); "
            "the Worker keeps its address until `outbound dev` restarts"
        )
    return tuple(notes)
