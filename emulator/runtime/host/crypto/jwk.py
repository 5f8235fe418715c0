"""JSON Web Key encoding shared by the algorithms: base64url members, big-endian integers (which ECDSA's
r || s signatures use too), and the member order of an exported JWK."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from emulator.runtime.host.crypto.wire import fail


def b64url_decode(value: Any, error: str, name: str = "DataError") -> bytes:
    """A JWK member: base64url without padding (padding and standard-alphabet input are tolerated)."""
    if not isinstance(value, str):
        fail(name, error)
    text = value.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        fail(name, error)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(value: int, length: int | None = None) -> bytes:
    """Big-endian, minimal unless ``length`` is given (BoringSSL's bignumToArray / ...Padded)."""
    return value.to_bytes(length if length is not None else (value.bit_length() + 7) // 8, "big")


JWK_MEMBERS = (
    "kty",
    "use",
    "key_ops",
    "alg",
    "ext",
    "crv",
    "x",
    "y",
    "d",
    "n",
    "e",
    "p",
    "q",
    "dp",
    "dq",
    "qi",
    "oth",
    "k",
)


def jwk_in_order(jwk: dict[str, Any]) -> dict[str, Any]:
    # A JsonWebKey is a JSG_STRUCT: its members come out in declaration order.
    return {member: jwk[member] for member in JWK_MEMBERS if member in jwk}
