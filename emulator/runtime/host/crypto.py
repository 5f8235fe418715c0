"""crypto.subtle operations for the JS runtime, done with `cryptography` (see js/crypto.js)."""

from __future__ import annotations


async def run(payload: bytes) -> bytes:
    """One WebCrypto operation: ``payload`` and the result are framed as js/crypto.js defines."""
    raise NotImplementedError("crypto.subtle is not implemented yet")
