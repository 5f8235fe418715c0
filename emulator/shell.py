"""A sandbox's commands and files, as the Worker's sandbox stub reaches them under ``outbound dev``.

``exec(command)`` runs ``sh -c command`` as the sandbox: prepared by the server (its network namespace or
proxy credentials, its CA, its unprivileged uid; ``server.py``), started by ``launch.py`` with the capture, so
every request it makes goes through the sandbox's egress policy. ``gitCheckout`` is ``git clone`` through
``exec``, under the same policy.

The emulator isolates network egress, not the filesystem (issue 4): a sandbox's commands see the host's files
as its uid may. Its working folder, ``<state>/sandboxes/<id>/work``, stands for the container's
``/workspace``: commands start there, and ``readFile``/``writeFile`` act inside it only (``/workspace/…`` and
relative paths map to it; any other absolute path is refused). Those two run in the emulator's process, as
root under namespace capture, so they open each path component without following symbolic links and touch
only regular files the sandbox could not have linked elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime
import errno
import logging
import mimetypes
import os
import shlex
import signal
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from emulator.errors import UserError
from emulator.launch import Launch, run_captured
from emulator.runtime.env.durable_objects import SandboxRef

if TYPE_CHECKING:
    from emulator.server import SandboxHost, Server

log = logging.getLogger("outbound")

WORKSPACE = PurePosixPath("/workspace")  # the Sandbox container's working folder
# What a sandboxed command inherits from the process that starts it (the emulator for exec, the user's shell for
# `outbound run`); nothing else (secrets included) passes.
INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "TERM", "TZ")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
READ_ENCODINGS = (None, "utf-8", "utf8", "base64", "none")


class ShellError(UserError):
    """A command, file or clone failed in a way the Worker sees as a thrown Error."""


class OutsideWorkspace(ShellError):
    """readFile/writeFile named a path outside the sandbox's working folder."""

    def __init__(self, path: str, folder: Path) -> None:
        super().__init__(
            f"{path}: outbound isolates network egress, not the filesystem, so readFile and writeFile act only "
            f"in the sandbox's working folder {folder} (its /workspace); use a path under /workspace or a "
            "relative one"
        )


def workspace_parts(path: str, folder: Path) -> list[str]:
    """The components of ``path`` below the working folder: ``/workspace/a/b`` and ``a/b`` give [a, b]."""
    pure = PurePosixPath(path)
    if pure.is_absolute():
        if pure != WORKSPACE and WORKSPACE not in pure.parents:
            raise OutsideWorkspace(path, folder)
        pure = pure.relative_to(WORKSPACE)
    parts: list[str] = []
    for part in pure.parts:
        if part == "..":
            if not parts:
                raise OutsideWorkspace(path, folder)
            parts.pop()
        elif part != ".":
            parts.append(part)
    return parts


def _timestamp() -> str:
    """Now as JS's Date.prototype.toISOString() writes it."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SandboxShell:
    """The ``Shell`` (runtime/env/durable_objects.py) of a running server: its sandboxes' commands and files."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._warned: set[str] = set()

    async def _host(self, sandbox: SandboxRef) -> SandboxHost:
        return await self._server.prepare(sandbox.sandbox_id, sandbox.export_name)

    # -- commands ----------------------------------------------------------------------------------------
    async def exec(self, sandbox: SandboxRef, command: str, options: Mapping[str, Any]) -> dict[str, Any]:
        host = await self._host(sandbox)
        cwd = host.workdir
        if "cwd" in options:
            cwd = _command_folder(str(options["cwd"]), host.workdir)
        extra = options.get("env") or {}
        if not isinstance(extra, Mapping):
            raise TypeError("exec() options.env must be an object")
        timeout_ms = options.get("timeout")
        timestamp = _timestamp()
        started = time.monotonic()
        try:
            code, out, err = await self._run(
                host,
                ["sh", "-c", command],
                cwd,
                {str(k): str(v) for k, v in extra.items() if v is not None},
                None if timeout_ms is None else float(timeout_ms) / 1000,
            )
        except TimeoutError:
            raise ShellError(f"Command timed out after {timeout_ms} ms and was killed: {command}") from None
        return {
            "success": code == 0,
            "exitCode": code,
            "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
            "command": command,
            "duration": round((time.monotonic() - started) * 1000),
            "timestamp": timestamp,
        }

    async def _run(
        self, host: SandboxHost, argv: list[str], cwd: Path, extra: dict[str, str], timeout_s: float | None
    ) -> tuple[int, bytes, bytes]:
        info = self._server.launch_info(host)
        environment = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
        environment.setdefault("PATH", DEFAULT_PATH)
        environment["HOME"] = str(host.workdir)
        environment.update(info["env"])
        environment.update(extra)
        if info["capture"] == "namespace":
            launch = Launch(
                netns=info["netns"],
                argv=argv,
                env=environment,
                cwd=cwd,
                mounts=[(Path(source), target) for source, target in info["mounts"]],
                uid=int(info["uid"]),
                gid=int(info["gid"]),
            )
            return await run_captured(launch, timeout=timeout_s)
        if host.sandbox_id not in self._warned:
            self._warned.add(host.sandbox_id)
            log.warning("sandbox %s: exec(): %s", host.sandbox_id, info["warning"])
        return await _run_plain(argv, environment, cwd, timeout_s, _owner(host))

    async def git_checkout(self, sandbox: SandboxRef, repo_url: str, options: Mapping[str, Any]) -> dict[str, Any]:
        host = await self._host(sandbox)
        target = str(options.get("targetDir") or WORKSPACE / _repository_name(repo_url))
        parts = workspace_parts(target, host.workdir)
        if not parts:
            raise OutsideWorkspace(target, host.workdir)
        destination = "/".join(parts)  # relative to the working folder, where exec starts
        clone = ["git", "clone"]
        if options.get("branch"):
            clone += ["--branch", str(options["branch"])]
        if options.get("depth"):
            clone += ["--depth", str(int(options["depth"]))]
        clone += ["--", repo_url, destination]
        command = f"{shlex.join(clone)} && git -C {shlex.quote(destination)} rev-parse --abbrev-ref HEAD"
        exec_options: dict[str, Any] = {}
        if options.get("cloneTimeoutMs"):
            exec_options["timeout"] = options["cloneTimeoutMs"]
        result = await self.exec(sandbox, command, exec_options)
        if not result["success"]:
            raise ShellError(
                f"Failed to clone {repo_url} (git exited with {result['exitCode']}): {result['stderr'].strip()}"
            )
        lines = result["stdout"].strip().splitlines()
        branch = str(options.get("branch") or (lines[-1] if lines else ""))
        return {
            "success": True,
            "repoUrl": repo_url,
            "branch": branch,
            "targetDir": target,
            "timestamp": result["timestamp"],
            "exitCode": 0,
        }

    # -- files -------------------------------------------------------------------------------------------
    async def write_file(self, sandbox: SandboxRef, path: str, content: bytes, encoding: str | None) -> dict[str, Any]:
        host = await self._host(sandbox)
        parts = workspace_parts(path, host.workdir)
        if encoding == "base64":
            try:
                content = base64.b64decode(content, validate=True)
            except binascii.Error as error:
                raise ShellError(f"writeFile({path}): the content is not valid base64 ({error})") from None
        elif encoding not in (None, "utf-8", "utf8", "bytes"):
            raise ShellError(f"writeFile({path}): unsupported encoding {encoding!r}; use 'utf-8' or 'base64'")
        await asyncio.to_thread(write_workspace_file, host.workdir, parts, path, content, _owner(host))
        return {"success": True, "path": path, "timestamp": _timestamp(), "exitCode": 0}

    async def read_file(self, sandbox: SandboxRef, path: str, encoding: str | None) -> tuple[dict[str, Any], bytes]:
        if encoding not in READ_ENCODINGS:
            raise ShellError(f"readFile({path}): unsupported encoding {encoding!r}; use 'utf-8', 'base64' or 'none'")
        host = await self._host(sandbox)
        parts = workspace_parts(path, host.workdir)
        data = await asyncio.to_thread(read_workspace_file, host.workdir, parts, path, _owner(host))
        mime, text = _kind(parts[-1], data)
        result: dict[str, Any] = {
            "success": True,
            "path": path,
            "timestamp": _timestamp(),
            "exitCode": 0,
            "mimeType": mime,
            "size": len(data),
        }
        if encoding == "none":
            return result, data
        as_text = encoding in ("utf-8", "utf8") or (encoding is None and text)
        result["content"] = data.decode(errors="replace") if as_text else base64.b64encode(data).decode()
        result["encoding"] = "utf-8" if as_text else "base64"
        result["isBinary"] = not text
        return result, b""


def _owner(host: SandboxHost) -> int:
    """Who the sandbox's files belong to: its uid when the emulator runs as root, else the emulator's user."""
    return host.uid if os.geteuid() == 0 else os.geteuid()


def _command_folder(cwd: str, workdir: Path) -> Path:
    """exec's ``cwd``: /workspace/… and relative paths are in the working folder; other paths are the host's."""
    pure = PurePosixPath(cwd)
    if pure.is_absolute() and pure != WORKSPACE and WORKSPACE not in pure.parents:
        return Path(cwd)
    return workdir.joinpath(*workspace_parts(cwd, workdir))


def _repository_name(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return name.removesuffix(".git") or "repository"


def _kind(name: str, data: bytes) -> tuple[str, bool]:
    """The file's MIME type and whether its bytes are text (UTF-8 without NUL bytes)."""
    text = b"\x00" not in data
    if text:
        try:
            data.decode()
        except UnicodeDecodeError:
            text = False
    guessed = mimetypes.guess_type(name)[0]
    return guessed or ("text/plain" if text else "application/octet-stream"), text


async def _run_plain(
    argv: list[str], environment: dict[str, str], cwd: Path, timeout_s: float | None, uid: int
) -> tuple[int, bytes, bytes]:
    """Explicit-proxy mode: the command with its proxy variables set, as the sandbox's uid if the emulator is
    root (never as root), else as the emulator's own user."""
    root = os.geteuid() == 0
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=environment,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        user=uid if root else None,
        group=uid if root else None,
        extra_groups=[] if root else None,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await asyncio.shield(process.wait())
        raise
    code = process.returncode
    assert code is not None
    return (128 - code if code < 0 else code), out, err


# -- file access inside the working folder (run in a thread) -------------------------------------------------

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_folder(workdir: Path, parts: list[str], path: str, *, create: bool, owner: int | None) -> int:
    """An fd for the folder holding ``parts[-1]``, reached without following a symbolic link."""
    fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in parts[:-1]:
            try:
                child = os.open(name, _DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise ShellError(f"File not found: {path}") from None
                os.mkdir(name, 0o755, dir_fd=fd)
                if owner is not None:
                    os.chown(name, owner, owner, dir_fd=fd, follow_symlinks=False)
                child = os.open(name, _DIRECTORY, dir_fd=fd)
            except OSError as error:
                raise _file_error(path, error) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _file_error(path: str, error: OSError) -> ShellError:
    if isinstance(error, FileNotFoundError):
        return ShellError(f"File not found: {path}")
    if isinstance(error, IsADirectoryError):
        return ShellError(f"{path} is a directory")
    if error.errno == errno.ENXIO:  # a FIFO without a reader, a socket: opened non-blocking, refused
        return ShellError(f"{path} is not a regular file")
    if error.errno in (errno.ELOOP, errno.ENOTDIR):  # a symbolic link where a folder or the file should be
        return ShellError(
            f"{path}: a symbolic link or not a folder on the way; readFile and writeFile do not follow symbolic "
            "links (exec can: `cat` the file instead)"
        )
    return ShellError(f"{path}: {error.strerror or error}")


@contextlib.contextmanager
def _checked(fd: int, path: str, owner: int) -> Iterator[None]:
    """Keeps ``fd`` open while it is used, if it is a regular file the sandbox may have put there; closes it."""
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ShellError(f"{path} is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise ShellError(f"{path} is not a regular file")
        # A hard link the sandbox made to a file it does not own would reach outside the working folder.
        if st.st_nlink > 1 and st.st_uid != owner:
            raise ShellError(f"{path} is a hard link to a file the sandbox does not own")
        yield
    finally:
        os.close(fd)


def read_workspace_file(workdir: Path, parts: list[str], path: str, owner: int) -> bytes:
    """The bytes of the regular file at ``parts`` (``workspace_parts``) under ``workdir``; ``path`` names it in
    errors, ``owner`` is the sandbox's uid (a hard-linked file must be its own)."""
    if not parts:
        raise ShellError(f"{path} is a directory")
    folder = _open_folder(workdir, parts, path, create=False, owner=None)
    try:
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
    except OSError as error:
        raise _file_error(path, error) from None
    finally:
        os.close(folder)
    with _checked(fd, path, owner), os.fdopen(fd, "rb", closefd=False) as file:
        return file.read()


def write_workspace_file(workdir: Path, parts: list[str], path: str, content: bytes, owner: int) -> None:
    """Create or replace the regular file at ``parts`` under ``workdir`` (and its missing folders), owned by
    ``owner`` when the emulator runs as root."""
    if not parts:
        raise ShellError(f"{path} is a directory")
    folder = _open_folder(workdir, parts, path, create=True, owner=owner if os.geteuid() == 0 else None)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(parts[-1], flags, 0o644, dir_fd=folder)
    except OSError as error:
        raise _file_error(path, error) from None
    finally:
        os.close(folder)
    with _checked(fd, path, owner), os.fdopen(fd, "wb", closefd=False) as file:
        os.ftruncate(fd, 0)
        file.write(content)
        if os.geteuid() == 0:
            os.fchown(fd, owner, owner)
