"""fetch() for the JS runtime: real network I/O in Python (see js/fetch.js)."""

from __future__ import annotations

from typing import Any


class FetchHost:
    """Outbound HTTP for one worker process; every method takes and returns bytes or numbers."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options

    async def fetch(self, payload: bytes) -> bytes:
        raise NotImplementedError("fetch() is not implemented yet")

    async def read(self, ident: int) -> bytes | None:
        raise NotImplementedError

    def cancel(self, ident: int) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None
