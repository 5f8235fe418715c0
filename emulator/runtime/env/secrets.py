"""The JS runtime's Secrets Store calls (``env.<binding>.get()``), served from ``bindings.secrets``.

One operation, ``get``: no arguments in, the secret's value out as the JSON result. A missing secret comes
back as the ``BindingError`` ``SecretsStoreSecret.get`` raises, which ``BindingHost`` turns into the JS
``Error`` Miniflare throws.
"""

from __future__ import annotations

from typing import Any

from bindings import BindingError
from bindings.secrets import SecretsStoreSecret
from emulator.runtime.env.streams import StreamTable


async def serve(
    binding: Any, operation: str, arguments: dict[str, Any], body: bytes, streams: StreamTable
) -> tuple[Any, bytes]:
    secret: SecretsStoreSecret = binding
    if operation == "get":
        return await secret.get(), b""
    raise BindingError(f"SecretsStoreSecret has no operation {operation}()")
