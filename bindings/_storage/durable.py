"""What makes a write survive a power cut as well as a ``kill -9``: fsync of a file's bytes, of a folder's
entries, and folders created with each new entry synced into its parent.

A ``kill -9`` alone loses nothing the kernel was given; these are for the crash that takes the page cache too.
SQLite syncs its own files (``synchronous=FULL``, ``sql.py``); the value files and the folders are ours.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def sync_file(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())


def sync_folder(folder: Path) -> None:
    """Sync ``folder``'s entries: a file created or renamed in it is then there after a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each synced into its parent (else a power cut may take a
    new folder, and the files in it, while the database row naming them stays)."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        sync_folder(path.parent)
