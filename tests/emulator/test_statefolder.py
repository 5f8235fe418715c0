"""emulator/statefolder.py: the state folder lets sandboxes through to their own folders and shows them nothing
else. End to end, as a sandbox's uid: tests/security/test_identity.py."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from emulator import Emulator, statefolder

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def make_state(root: Path) -> Path:
    """A state folder as a default umask (022) leaves it: every folder 0755, every file 0644."""
    state = root / "state"
    for folder in ("secrets-store/vault/blobs", "kv/cache", "mitmproxy", "sandboxes/agent-1/work"):
        (state / folder).mkdir(parents=True)
    for file in (
        "sandboxes.sqlite",
        "sandboxes.sqlite-wal",
        "audit.jsonl",
        "upstream-trust.pem",
        "secrets-store/vault/entries.sqlite",
        "secrets-store/vault/blobs/abc",
        "sandboxes/agent-1/ca.crt",
    ):
        (state / file).write_text("x")
    for path in [state, *state.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return state


def test_only_the_way_to_the_sandboxes_stays_open(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    statefolder.lock(state)
    assert mode(state / "sandboxes") == 0o711  # traversable, not listable
    for private in ("secrets-store", "kv", "mitmproxy"):
        assert mode(state / private) == 0o700, private
    for private in ("sandboxes.sqlite", "sandboxes.sqlite-wal", "audit.jsonl", "upstream-trust.pem"):
        assert mode(state / private) == 0o600, private
    # Below a private folder nothing needs changing: no other user gets in to read it.
    assert mode(state / "secrets-store" / "vault" / "blobs" / "abc") == 0o644
    # A sandbox's own folder is the server's to set (server.prepare): lock leaves it as it is.
    assert mode(state / "sandboxes" / "agent-1") == 0o755
    assert mode(state / "sandboxes" / "agent-1" / "ca.crt") == 0o644


def test_what_the_emulator_did_not_make_is_left_alone(tmp_path: Path) -> None:
    """--persist-to may name a folder with other things in it (/tmp, the project): their modes are not ours."""
    state = make_state(tmp_path)
    (state / "notes.txt").write_text("the user's")
    (state / "notes.txt").chmod(0o644)
    (state / "src").mkdir(mode=0o755)
    state.chmod(0o1777)
    statefolder.lock(state)
    assert mode(state / "notes.txt") == 0o644 and mode(state / "src") == 0o755
    assert mode(state) == 0o1777


def test_a_symbolic_link_is_not_followed_out_of_the_folder(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    outside.chmod(0o644)
    (state / "audit.jsonl").unlink()
    os.symlink(outside, state / "audit.jsonl")  # a name the emulator keeps, pointing out of the folder
    statefolder.lock(state)
    assert mode(outside) == 0o644


def test_a_missing_folder_is_left_alone(tmp_path: Path) -> None:
    statefolder.lock(tmp_path / "not-yet")
    assert not (tmp_path / "not-yet").exists()


async def test_a_store_folder_a_reload_adds_is_private(tmp_path: Path) -> None:
    """The emulator locks its state folder once its stores are open, and again when a reload opens a new one."""
    project = Path(shutil.copytree(ROOT / "fixtures" / "handlers" / "reload", tmp_path / "project"))
    state = tmp_path / "state"
    async with Emulator.load(project, workers=1, in_memory=False, persist_to=state) as emu:
        assert mode(state / "kv") == 0o700 and mode(state / "sandboxes.sqlite") == 0o600
        assert not (state / "r2").exists()
        wrangler = project / "wrangler.jsonc"
        bucket = '"r2_buckets": [{ "binding": "R2", "bucket_name": "reload-r2" }],\n  "kv_namespaces"'
        wrangler.write_text(wrangler.read_text().replace('"kv_namespaces"', bucket))
        await emu.reload()
        assert mode(state / "r2") == 0o700
