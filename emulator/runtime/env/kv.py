"""The JS runtime's kv binding calls, served from the bindings package."""

from __future__ import annotations

from typing import Any

from bindings import BindingError
from emulator.runtime.env.streams import StreamTable


async def serve(
    binding: Any, operation: str, arguments: dict[str, Any], body: bytes, streams: StreamTable
) -> tuple[Any, bytes]:
    raise BindingError(f"{operation}() is not implemented yet")
