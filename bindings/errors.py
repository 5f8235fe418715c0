"""Errors bindings raise.

BindingError          what the handler sees: Cloudflare's JS error type and message, verbatim
StorageError          the store itself failed (disk full, database locked, corrupt); the operation
                      changed nothing, and the handler sees it as an internal error of the binding
"""

from __future__ import annotations


class BindingError(Exception):
    """An error a handler observes from a binding call: ``js_name`` is the JS error class to throw."""

    def __init__(self, message: str, *, js_name: str = "Error") -> None:
        super().__init__(message)
        self.js_name = js_name


class StorageError(Exception):
    """The underlying storage failed; nothing was changed."""
