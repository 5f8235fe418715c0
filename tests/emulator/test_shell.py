"""emulator/shell.py: which paths readFile/writeFile may touch, and how they refuse the rest.

exec and gitCheckout run real commands in a real sandbox network: tests/e2e/test_worker_entry.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator.shell import (
    OutsideWorkspace,
    ShellError,
    read_workspace_file,
    workspace_parts,
    write_workspace_file,
)

OWNER = os.geteuid()


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("/workspace/a/b.txt", ["a", "b.txt"]),
        ("a/b.txt", ["a", "b.txt"]),
        ("./a//b.txt", ["a", "b.txt"]),
        ("a/../b.txt", ["b.txt"]),
        ("/workspace/a/../../workspace/b", None),  # up past the working folder, even to come back
        ("/workspace", []),
        ("/workspace/", []),
        ("../b.txt", None),
        ("/workspace/../etc/passwd", None),
        ("/etc/passwd", None),
        ("/workspacefoo/a", None),
        ("/", None),
    ],
)
def test_paths_map_into_the_working_folder(path: str, parts: list[str] | None, tmp_path: Path) -> None:
    if parts is None:
        with pytest.raises(OutsideWorkspace):
            workspace_parts(path, tmp_path)
    else:
        assert workspace_parts(path, tmp_path) == parts


def test_the_refusal_says_what_is_isolated_and_where_files_live(tmp_path: Path) -> None:
    with pytest.raises(OutsideWorkspace) as refused:
        workspace_parts("/etc/passwd", tmp_path)
    assert str(refused.value) == (
        f"/etc/passwd: outbound isolates network egress, not the filesystem, so readFile and writeFile act only in "
        f"the sandbox's working folder {tmp_path} (its /workspace); use a path under /workspace or a relative one"
    )


def test_a_file_is_written_with_its_folders_and_read_back(tmp_path: Path) -> None:
    write_workspace_file(tmp_path, ["a", "b", "c.txt"], "a/b/c.txt", b"first, longer", OWNER)
    write_workspace_file(tmp_path, ["a", "b", "c.txt"], "a/b/c.txt", b"second", OWNER)
    assert (tmp_path / "a" / "b" / "c.txt").read_bytes() == b"second"
    assert read_workspace_file(tmp_path, ["a", "b", "c.txt"], "a/b/c.txt", OWNER) == b"second"


def _refused(tmp_path: Path, name: str) -> str:
    with pytest.raises(ShellError) as read:
        read_workspace_file(tmp_path, name.split("/"), name, OWNER)
    with pytest.raises(ShellError) as written:
        write_workspace_file(tmp_path, name.split("/"), name, b"x", OWNER)
    assert str(read.value) == str(written.value)
    return str(read.value)


def test_symbolic_links_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret").write_text("host file")
    (tmp_path / "file-link").symlink_to(outside / "secret")
    (tmp_path / "folder-link").symlink_to(outside)
    for name in ("file-link", "folder-link/secret"):
        assert _refused(tmp_path, name) == (
            f"{name}: a symbolic link or not a folder on the way; readFile and writeFile do not follow symbolic "
            "links (exec can: `cat` the file instead)"
        )
    assert (outside / "secret").read_text() == "host file"


def test_only_regular_files_are_touched(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # opening it to read would block the emulator
    (tmp_path / "folder").mkdir()
    assert _refused(tmp_path, "pipe") == "pipe is not a regular file"
    assert _refused(tmp_path, "folder") == "folder is a directory"
    with pytest.raises(ShellError, match="^File not found: missing/a.txt$"):
        read_workspace_file(tmp_path, ["missing", "a.txt"], "missing/a.txt", OWNER)


def test_a_hard_link_to_a_file_the_sandbox_does_not_own_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").write_text("data")
    os.link(tmp_path / "mine", tmp_path / "linked")
    other_owner = OWNER + 1  # the files belong to this process's user, not to the sandbox's uid
    with pytest.raises(ShellError, match="^linked is a hard link to a file the sandbox does not own$"):
        read_workspace_file(tmp_path, ["linked"], "linked", other_owner)
    with pytest.raises(ShellError, match="^linked is a hard link"):
        write_workspace_file(tmp_path, ["linked"], "linked", b"x", other_owner)
    assert (tmp_path / "mine").read_text() == "data"
    assert read_workspace_file(tmp_path, ["linked"], "linked", OWNER) == b"data"
