"""Bundling with esbuild: the user's handler entry, and the emulator's own Workers runtime.

pythonmonkey has neither ES modules nor TypeScript (runtime-notes §1.1, §2), so the user's entry and
everything it imports become one classic script, as wrangler does it: esbuild, ``--bundle``, keep-names (class
names are registry keys, contract §1.3), ES2022 class-field semantics (so ``static outbound = …`` behaves as in
production, contract §1.10). The three Cloudflare modules stay external and resolve to the runtime's own
implementations through the ``require`` the worker hands to the bundle's wrapper function.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from emulator.errors import UserError
from emulator.runtime.sourcemap import SourceMap

EXTERNAL_MODULES = ("@cloudflare/containers", "@cloudflare/sandbox", "cloudflare:workers")
# The bundle defines one function and runs nothing when evaluated; the worker calls it inside a try block, so
# an exception at module load arrives with a stack that the source map can translate.
BANNER = "globalThis.__outbound_load = function (require) {"
FOOTER = "return __outbound_module;\n};"
GLOBAL_NAME = "__outbound_module"

_RUNTIME_ENTRY = Path(__file__).parent / "js" / "index.js"
_MESSAGE_START = re.compile(r"^(?:✘ \[ERROR\]|▲ \[WARNING\]|X \[ERROR\]) (?P<text>.*)$")
_LOCATION = re.compile(r"^\s{4}(?P<file>\S.*?):(?P<line>\d+):(?P<column>\d+):$")


@dataclass(frozen=True)
class BuildMessage:
    text: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    frame: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: " if self.file else ""
        return f"{where}{self.text}" + (f"\n{self.frame}" if self.frame else "")


class BuildError(UserError):
    """esbuild could not bundle the handler entry (syntax error, missing import, …)."""

    def __init__(self, entry: Path, messages: list[BuildMessage]) -> None:
        self.entry = entry
        self.messages = messages
        detail = "\n".join(str(m) for m in messages) or "esbuild failed without a message"
        super().__init__(f"could not bundle {entry}:\n{detail}")


class ToolchainError(UserError):
    """The JavaScript tools outbound needs (esbuild, web-streams-polyfill) are not installed."""


@dataclass(frozen=True)
class Bundle:
    entry: Path
    root: Path  # the project folder; error locations are shown relative to it
    path: Path  # the bundled script the workers evaluate
    sourcemap: SourceMap
    inputs: tuple[Path, ...]  # every file esbuild read: the watch list for hot reload
    warnings: tuple[BuildMessage, ...] = field(default=())


def package_node_modules() -> Path:
    """The node_modules holding outbound's own JS tools (``npm ci`` in the checkout installs it)."""
    override = os.environ.get("OUTBOUND_NODE_MODULES")
    if override:
        return Path(override)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "node_modules"
        if (candidate / "web-streams-polyfill").is_dir():
            return candidate
    raise ToolchainError(
        "outbound's JavaScript dependencies are missing: run `npm ci` in the outbound checkout "
        "(it installs esbuild and web-streams-polyfill from package.json), or set OUTBOUND_NODE_MODULES"
    )


def find_esbuild(project_root: Path | None = None) -> Path:
    """esbuild's native binary, preferring outbound's pinned copy over the project's and PATH's."""
    override = os.environ.get("OUTBOUND_ESBUILD")
    if override:
        return Path(override)
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(), "")
    system = platform.system().lower()
    candidates: list[Path] = []
    try:
        ours = package_node_modules()
        candidates += [ours / "@esbuild" / f"{system}-{arch}" / "bin" / "esbuild", ours / ".bin" / "esbuild"]
    except ToolchainError:
        pass
    if project_root is not None:
        candidates.append(project_root / "node_modules" / ".bin" / "esbuild")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("esbuild")
    if on_path:
        return Path(on_path)
    raise ToolchainError(
        "esbuild was not found: run `npm ci` in the outbound checkout, or `npm install -D esbuild` in your "
        "project, or set OUTBOUND_ESBUILD=/path/to/esbuild"
    )


def parse_messages(output: str) -> list[BuildMessage]:
    """esbuild's human-readable log (``--color=false``) as structured messages."""
    messages: list[BuildMessage] = []
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        start = _MESSAGE_START.match(lines[i])
        if start is None:
            i += 1
            continue
        text = start["text"]
        file = line = column = None
        frame: list[str] = []
        i += 1
        while i < len(lines) and not _MESSAGE_START.match(lines[i]):
            location = _LOCATION.match(lines[i])
            if location and file is None:
                file, line, column = location["file"], int(location["line"]), int(location["column"]) + 1
            elif lines[i].startswith("      ") and file is not None and not frame_done(frame):
                frame.append(lines[i][4:].rstrip())
            elif lines[i].strip() and file is None and not lines[i].startswith(" "):
                break
            i += 1
        messages.append(BuildMessage(text=text, file=file, line=line, column=column, frame="\n".join(frame).rstrip()))
    return messages


def frame_done(frame: list[str]) -> bool:
    # esbuild prints the code line, a caret line, and sometimes a suggestion line; stop after those.
    return len(frame) >= 3


async def _run_esbuild(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode(errors="replace")


async def build_handler(entry: Path, root: Path, out_dir: Path, *, name: str = "bundle") -> Bundle:
    """Bundle ``entry`` into ``out_dir/<name>.js`` (+ map and metafile)."""
    entry = entry.resolve()
    if not entry.is_file():
        raise BuildError(entry, [BuildMessage(f"the entry file {entry} does not exist")])
    out_dir.mkdir(parents=True, exist_ok=True)
    outfile = out_dir / f"{name}.js"
    metafile = out_dir / f"{name}.meta.json"
    args = [
        str(find_esbuild(root)),
        str(entry),
        "--bundle",
        "--format=iife",
        f"--global-name={GLOBAL_NAME}",
        "--platform=neutral",
        "--main-fields=module,main",
        "--conditions=workerd,worker,browser",
        "--target=es2022",
        "--keep-names",
        "--sourcemap=external",
        f"--metafile={metafile}",
        f"--outfile={outfile}",
        f"--banner:js={BANNER}",
        f"--footer:js={FOOTER}",
        "--log-level=warning",
        "--log-limit=0",
        "--color=false",
        *(f"--external:{module}" for module in EXTERNAL_MODULES),
    ]
    code, output = await _run_esbuild(args, cwd=root)
    messages = parse_messages(output)
    if code != 0:
        errors = [m for m, raw in zip(messages, _kinds(output), strict=True) if raw == "error"] or messages
        raise BuildError(entry, errors or [BuildMessage(output.strip() or f"esbuild exited with status {code}")])
    warnings = tuple(m for m, raw in zip(messages, _kinds(output), strict=True) if raw == "warning")
    meta = json.loads(metafile.read_text())
    inputs = tuple(sorted((root / name).resolve() for name in meta.get("inputs", {})))
    sourcemap = SourceMap.load(outfile.with_suffix(".js.map"), sources_relative_to=out_dir)
    return Bundle(entry=entry, root=root, path=outfile, sourcemap=sourcemap, inputs=inputs, warnings=warnings)


def _kinds(output: str) -> list[str]:
    return ["error" if "[ERROR]" in line else "warning" for line in output.splitlines() if _MESSAGE_START.match(line)]


async def build_runtime(out_dir: Path) -> Path:
    """Bundle the Workers global scope (``js/index.js`` and its npm dependencies) into one script."""
    node_modules = package_node_modules()
    out_dir.mkdir(parents=True, exist_ok=True)
    outfile = out_dir / "runtime.js"
    args = [
        str(find_esbuild()),
        str(_RUNTIME_ENTRY),
        "--bundle",
        "--format=iife",
        "--target=es2022",
        "--keep-names",
        f"--outfile={outfile}",
        "--log-level=warning",
        "--color=false",
    ]
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    code, output = await _run_esbuild(args, cwd=_RUNTIME_ENTRY.parent, env=env)
    if code != 0:
        raise ToolchainError(f"the outbound runtime failed to bundle (a broken checkout?):\n{output}")
    return outfile
