"""Start a command inside a sandbox: its network namespace, its own view of a few files, an unprivileged user.

``launch_command(Launch(...))`` gives the argv of a fresh ``python -P -m emulator.launch <spec file>`` process
that, still root and single-threaded:

1. reads the spec (a 0600 root-owned JSON file, never a shell string) and deletes it;
2. enters the sandbox's network namespace (setns on /run/netns/<name>);
3. unshares a mount namespace, makes / recursively private (nothing propagates back to the host), and
   bind-mounts each host file read-only over its path inside the sandbox (resolv.conf, the CA bundle, the CA);
4. drops to uid/gid 65534 with no supplementary groups, an empty capability bounding set and no_new_privs
   (so setuid binaries and file capabilities grant nothing), and checks that it worked;
5. chdirs to the working folder and execs the command with exactly the given environment.

The launcher execs, so the process *is* the command: its pid, its signals, its exit code. If the launcher itself
fails it prints ``outbound launch: <step>: <reason>`` on stderr and exits 125 (126/127 when the command cannot
be run / is not found, as shells do).

Filesystem isolation is not a goal (the issue: network egress only); the mounts exist so that common clients
find the resolver and trust the sandbox's CA. This module imports only the standard library: the launcher must
stay a fresh, single-threaded process (unshare(CLONE_NEWNS) refuses threaded ones).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import asyncio

NETNS_DIR = "/run/netns"
DEFAULT_UID = 65534  # nobody
DEFAULT_GID = 65534  # nogroup
EXIT_LAUNCH_FAILED = 125
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127
SHADOW_TMPFS_SIZE = "4m"

_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4


@dataclass(frozen=True)
class Launch:
    """What to run in a sandbox and how it sees the world."""

    netns: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    mounts: list[tuple[Path, str]] = field(default_factory=list)  # (file on the host, path inside the sandbox)
    uid: int = DEFAULT_UID
    gid: int = DEFAULT_GID


def launch_command(launch: Launch) -> list[str]:
    """The argv that runs ``launch``: write the spec to a private file that the launcher reads and deletes.

    If the argv is never run, the spec file (in the temporary directory, mode 0600) stays behind.
    """
    _validate(launch)
    spec = {
        "netns": launch.netns,
        "argv": list(launch.argv),
        "env": dict(launch.env),
        "cwd": str(launch.cwd),
        "mounts": [[str(host), inside] for host, inside in launch.mounts],
        "uid": launch.uid,
        "gid": launch.gid,
    }
    fd, path = tempfile.mkstemp(prefix="outbound-launch-", suffix=".json")  # 0600, O_EXCL
    with os.fdopen(fd, "w") as f:
        json.dump(spec, f)
    # -P: the caller's working folder (perhaps a sandbox's, writable by it) must not shadow modules of a root process.
    return [sys.executable, "-P", "-m", "emulator.launch", path]


async def run_captured(launch: Launch, *, timeout: float | None = None) -> tuple[int, bytes, bytes]:
    """Run ``launch`` to completion: (exit code, stdout, stderr). A signal's death is 128 + its number.

    On timeout the command's whole process group is killed and TimeoutError raised; so it is when the caller is
    cancelled (the emulator stopping while a Worker's exec runs), before the cancellation goes on.
    """
    import asyncio  # here, not at the top: the launcher process never needs it and it costs half its start-up

    argv = launch_command(launch)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd="/",
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            await _kill_group(process)
            raise TimeoutError(
                f"{launch.argv!r} in {launch.netns} ran longer than {timeout} s and was killed"
            ) from None
        except asyncio.CancelledError:
            await asyncio.shield(_kill_group(process))
            raise
    finally:
        Path(argv[-1]).unlink(missing_ok=True)  # already gone unless the launcher failed before reading it
    code = process.returncode
    assert code is not None
    return (128 - code if code < 0 else code), out, err


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


def _validate(launch: Launch) -> None:
    if not launch.argv:
        raise ValueError("Launch.argv is empty: give the command to run")
    if "/" in launch.netns or launch.netns in ("", ".", ".."):
        raise ValueError(f"Launch.netns {launch.netns!r} is not a namespace name under {NETNS_DIR}")
    if not launch.cwd.is_absolute():
        raise ValueError(f"Launch.cwd {str(launch.cwd)!r} must be an absolute path")
    for host, inside in launch.mounts:
        if not inside.startswith("/"):
            raise ValueError(f"mount target {inside!r} must be an absolute path inside the sandbox")
        if not host.is_file():
            raise ValueError(f"mount source {str(host)!r} is not a file on the host")
    if launch.uid == 0 or launch.gid == 0:
        raise ValueError("a sandbox command must not run as root (uid/gid 0)")


# -- the launcher process -----------------------------------------------------------------------------------


class _LaunchFailed(Exception):
    def __init__(self, step: str, reason: str, code: int = EXIT_LAUNCH_FAILED) -> None:
        super().__init__(f"{step}: {reason}")
        self.code = code


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _sys(result: int, step: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise _LaunchFailed(step, os.strerror(errno))


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None, step: str) -> None:
    _sys(_libc().mount(_c(source), _c(target), _c(fstype), ctypes.c_ulong(flags), _c(data)), step)


def _c(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _read_spec(path: str) -> dict[str, Any]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise _LaunchFailed(f"reading the launch spec {path}", e.strerror or str(e)) from None
    with os.fdopen(fd) as f:
        st = os.fstat(f.fileno())
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise _LaunchFailed(f"reading the launch spec {path}", "it must be private to the launching user (0600)")
        spec: dict[str, Any] = json.load(f)
    os.unlink(path)
    return spec


def _enter_netns(name: str) -> None:
    path = os.path.join(NETNS_DIR, name)
    step = f"entering network namespace {name} ({path})"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise _LaunchFailed(step, e.strerror or str(e)) from None
    try:
        _sys(_libc().setns(fd, _CLONE_NEWNET), step)
    finally:
        os.close(fd)


def _missing_target(target: str) -> tuple[str, list[str]] | None:
    """None if ``target`` exists as a file; else its deepest existing directory and the parts below it."""
    if os.path.isfile(target):
        return None
    if os.path.exists(target):
        raise _LaunchFailed(f"mounting over {target}", "it exists and is not a file")
    parts: list[str] = []
    current = target
    while not os.path.isdir(current):
        current, name = os.path.split(current)
        parts.insert(0, name)
    return os.path.realpath(current), parts


def _shadow_directory(directory: str, keep_out: str) -> None:
    """Cover ``directory`` with a tmpfs that looks the same: its entries bind-mounted back, its mode and owner.

    This is how a missing path (``/etc/cloudflare/certs``) appears inside the sandbox without a single change
    to the host's ``/etc``: new directories are made in the tmpfs, in this mount namespace only. ``keep_out``
    (the first missing name, or a dangling symlink in its place) is left for the caller to create.
    """
    step = f"covering {directory} with a tmpfs"
    st = os.stat(directory)
    original = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        names = os.listdir(directory)
        options = f"mode={stat.S_IMODE(st.st_mode):o},uid={st.st_uid},gid={st.st_gid},size={SHADOW_TMPFS_SIZE}"
        _mount("tmpfs", directory, "tmpfs", _MS_NOSUID | _MS_NODEV, options, step)
        for name in names:
            if name == keep_out:
                continue
            source = f"/proc/self/fd/{original}/{name}"
            placeholder = os.path.join(directory, name)
            entry = os.lstat(source)
            if stat.S_ISLNK(entry.st_mode):
                os.symlink(os.readlink(source), placeholder)
                os.lchown(placeholder, entry.st_uid, entry.st_gid)
                continue
            if stat.S_ISDIR(entry.st_mode):
                os.mkdir(placeholder)
            else:
                os.close(os.open(placeholder, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            _mount(source, placeholder, None, _MS_BIND | _MS_REC, None, f"{step}: keeping {placeholder}")
    finally:
        os.close(original)


def _prepare_target(target: str) -> None:
    missing = _missing_target(target)
    if missing is None:
        return
    directory, parts = missing
    if directory != "/":
        _shadow_directory(directory, parts[0])
    # else: a tmpfs over / would hide the root filesystem itself, so here (never for resolv.conf or the CA
    # paths, which live under /etc) the missing directories and the empty mount point are created on the host,
    # root-owned, and stay there after the command ends.
    current = directory
    for name in parts[:-1]:
        current = os.path.join(current, name)
        if not os.path.isdir(current):
            os.mkdir(current, 0o755)
    placeholder = os.path.join(current, parts[-1])
    os.close(os.open(placeholder, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _mount_files(mounts: list[tuple[str, str]]) -> None:
    _sys(_libc().unshare(_CLONE_NEWNS), "unsharing the mount namespace")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None, "making / recursively private")
    for _, target in mounts:  # first every mount point: a shadowed directory would hide earlier binds below it
        try:
            _prepare_target(target)
        except OSError as e:
            raise _LaunchFailed(f"preparing {target}", e.strerror or str(e)) from None
    for source, target in mounts:
        _mount(source, target, None, _MS_BIND, None, f"bind-mounting {source} over {target}")
        _mount(None, target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None, f"making {target} read-only")


def _drop_privileges(uid: int, gid: int) -> None:
    step = f"dropping to uid {uid} gid {gid}"
    _sys(_libc().prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0), f"{step}: no_new_privs")
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last_cap + 1):
        _sys(_libc().prctl(_PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0), f"{step}: bounding set")
    _libc().prctl(_PR_CAP_AMBIENT, ctypes.c_ulong(_PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)  # EINVAL on old kernels: none
    try:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)  # from root to non-root: permitted and effective capabilities are cleared
    except OSError as e:
        raise _LaunchFailed(step, e.strerror or str(e)) from None
    ids = (os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups())
    if ids != (uid, uid, gid, gid, []):
        raise _LaunchFailed(step, f"still uid/euid/gid/egid/groups {ids}")
    status = Path("/proc/self/status").read_text().splitlines()
    caps = {line.split(":")[0]: int(line.split()[1], 16) for line in status if line.startswith("Cap")}
    if any(caps.values()):
        raise _LaunchFailed(step, f"capabilities remain: {caps}")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise _LaunchFailed(step, "setuid(0) still works")


def _exec(argv: list[str], env: dict[str, str], cwd: str) -> NoReturn:
    try:
        os.chdir(cwd)
    except OSError as e:
        raise _LaunchFailed(
            f"changing to the working folder {cwd} as uid {os.getuid()}", e.strerror or str(e)
        ) from None
    # Python ignores SIGPIPE and SIGXFSZ for itself; an ignored signal stays ignored across exec.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    os.closerange(3, 1 << 20)  # nothing of the launching process leaks into the sandbox
    try:
        os.execvpe(argv[0], argv, env)  # PATH is looked up in `env`, as the command will see it
    except FileNotFoundError:
        raise _LaunchFailed(f"running {argv[0]!r}", "command not found", EXIT_NOT_FOUND) from None
    except OSError as e:
        raise _LaunchFailed(f"running {argv[0]!r}", e.strerror or str(e), EXIT_CANNOT_EXECUTE) from None


def main(args: list[str]) -> NoReturn:
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C before the exec ends the launcher as it would the command
    try:
        if len(args) != 1:
            raise _LaunchFailed("usage", "python -m emulator.launch <spec file written by launch_command()>")
        spec = _read_spec(args[0])
        try:
            netns, uid, gid = str(spec["netns"]), int(spec["uid"]), int(spec["gid"])
            mounts = [(str(source), str(target)) for source, target in spec["mounts"]]
            argv = [str(arg) for arg in spec["argv"]]
            env = {str(key): str(value) for key, value in spec["env"].items()}
            cwd = str(spec["cwd"])
        except (KeyError, TypeError, ValueError) as e:
            raise _LaunchFailed(f"reading the launch spec {args[0]}", f"malformed: {e!r}") from None
        _enter_netns(netns)
        _mount_files(mounts)
        _drop_privileges(uid, gid)
        _exec(argv, env, cwd)
    except _LaunchFailed as e:
        sys.stderr.write(f"outbound launch: {e}\n")
        sys.stderr.flush()
        os._exit(e.code)


if __name__ == "__main__":
    main(sys.argv[1:])
