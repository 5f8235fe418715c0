"""Stops pythonmonkey 1.4.1 from leaking every promise job (runtime-notes §1.7 #2).

``PyEventLoop::enqueue`` hands asyncio a freshly created ``eventLoopJobWrapper`` and never releases its
creation reference, so each job's JS closure stays rooted with everything it captured: a handler returning a
64 KiB body leaked all of it, 1.3 GiB per 20k requests in a measurement on this machine. Upstream PR #508 adds
the missing ``Py_DECREF``; until it ships we drop that reference ourselves once asyncio's ``Handle`` holds its
own. This touches 1.4.1 internals, so the version is pinned and ``tests/runtime/test_leakfix.py`` measures it.
"""

from __future__ import annotations

import asyncio
import ctypes
from typing import Any

_PY_DECREF = ctypes.pythonapi.Py_DecRef
_PY_DECREF.argtypes = [ctypes.py_object]
_PY_DECREF.restype = None

JOB_WRAPPER_NAMES = frozenset({"eventLoopJobWrapper", "timerJobWrapper"})


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Patch ``loop`` (the worker's running loop) so that pythonmonkey's job wrappers are released."""
    original_soon = loop.call_soon_threadsafe
    original_later = loop.call_later

    def call_soon_threadsafe(callback: Any, *args: Any, context: Any = None) -> asyncio.Handle:
        handle = original_soon(callback, *args, context=context)
        if getattr(callback, "__name__", None) in JOB_WRAPPER_NAMES:
            _PY_DECREF(callback)
        return handle

    def call_later(delay: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        handle = original_later(delay, callback, *args, context=context)
        if getattr(callback, "__name__", None) in JOB_WRAPPER_NAMES:
            _PY_DECREF(callback)
        return handle

    loop.call_soon_threadsafe = call_soon_threadsafe  # type: ignore[method-assign,assignment]
    loop.call_later = call_later  # type: ignore[method-assign,assignment]
