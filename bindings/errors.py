"""Errors bindings raise.

BindingError          what the handler sees: Cloudflare's JS error type and message, verbatim
StorageError          the store itself failed (disk full, database locked, corrupt); the operation
│                     changed nothing, and the handler sees it as an internal error of the binding
└── StorageFull       the disk holding the store is full; KV and R2 tell the handler so in their own
                      error shapes (``KV PUT failed: 507 …``, ``put: … (10001)``)
"""

from __future__ import annotations

import errno
from pathlib import Path

# The errors a write gets from a full disk or an exhausted quota.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class BindingError(Exception):
    """An error a handler observes from a binding call: ``js_name`` is the JS error class to throw."""

    def __init__(self, message: str, *, js_name: str = "Error") -> None:
        super().__init__(message)
        self.js_name = js_name


class StorageError(Exception):
    """The underlying storage failed; nothing was changed."""


class StorageFull(StorageError):
    """A value file or a database commit did not fit on the disk holding ``folder``; nothing was changed."""

    def __init__(self, folder: Path, reason: str) -> None:
        # Cloudflare's stores are never full, so this is local-only text: say what happened and what to do.
        super().__init__(
            f"the disk holding {folder} is full ({reason}): nothing was stored and the previous value is "
            "unchanged; free space on that disk, or give outbound --persist-to a folder on a disk with room"
        )
        self.folder = folder
