"""make_folder and the syncs: every folder created is synced into its parent, and files are synced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bindings._storage import durable


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths fsync() is called on (through the real fsync)."""
    paths: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(durable.os, "fsync", fsync)
    return paths


def test_each_new_folder_is_synced_into_its_parent(tmp_path: Path, synced: list[str]) -> None:
    durable.make_folder(tmp_path / "kv" / "ns" / "blobs")
    assert (tmp_path / "kv" / "ns" / "blobs").is_dir()
    assert synced == [str(tmp_path), str(tmp_path / "kv"), str(tmp_path / "kv" / "ns")]


def test_an_existing_folder_costs_no_sync(tmp_path: Path, synced: list[str]) -> None:
    (tmp_path / "blobs").mkdir()
    durable.make_folder(tmp_path / "blobs")
    assert synced == []


def test_a_file_is_flushed_and_synced(tmp_path: Path, synced: list[str]) -> None:
    with open(tmp_path / "value", "wb") as file:
        file.write(b"bytes")
        durable.sync_file(file)
        assert (tmp_path / "value").read_bytes() == b"bytes"
    assert synced == [str(tmp_path / "value")]
