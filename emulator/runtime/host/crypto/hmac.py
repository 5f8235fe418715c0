"""HMAC (digest.c++): import, generation and export of HMAC keys, and the tags that sign and verify."""

from __future__ import annotations

import hmac
import os
from typing import Any

from emulator.runtime.host.crypto.digest import lookup_digest
from emulator.runtime.host.crypto.jwk import b64url_decode, b64url_encode, jwk_in_order
from emulator.runtime.host.crypto.keys import (
    SIGN_VERIFY,
    ImportRequest,
    Key,
    ordered_usages,
    single_reply,
    validate_usages,
)
from emulator.runtime.host.crypto.wire import Parts, fail, required


def zero_trailing_bits(data: bytes, length_bits: int) -> bytes:
    # digest.c++ zeroOutTrailingKeyBits: an HMAC key of 13 bits keeps the top 5 bits of its second byte.
    spare = len(data) * 8 - length_bits
    if spare <= 0 or not data:
        return data
    return data[:-1] + bytes([data[-1] & (0xFF << spare) & 0xFF])


def import_hmac(request: ImportRequest) -> Key:
    usages = validate_usages("HMAC", "import secret", request.usages, SIGN_VERIFY)
    hash_name = str(required(request.algorithm, "hash"))
    if request.format == "raw":
        assert request.data is not None
        data = request.data
    elif request.format == "jwk":
        jwk = request.jwk
        assert jwk is not None
        if jwk.get("kty") != "oct":
            fail(
                "DataError",
                'HMAC "jwk" key import requires a JSON Web Key with Key Type parameter ("kty") '
                f'equal to "oct" (encountered "{jwk.get("kty")}").',
            )
        data = b64url_decode(jwk.get("k"), 'HMAC "jwk" key import requires a base64Url encoding of the key')
        alg = jwk.get("alg")
        if alg is not None:
            if not hash_name.startswith("SHA-"):
                fail("NotSupportedError", f"Unrecognized or unimplemented hash algorithm requested{alg}")
            expected = "HS" + hash_name[4:]
            if alg != expected:
                fail(
                    "DataError",
                    'HMAC "jwk" key import specifies "alg" that is incompatible with the hash name '
                    f'(encountered "{alg}", expected "{expected}").',
                )
    else:
        fail("NotSupportedError", f'Unrecognized key import format "{request.format}".')
    key_bits = len(data) * 8
    length = request.algorithm.get("length")
    length = key_bits if length is None else int(length)
    if length == 0 or length > key_bits or length <= key_bits - 8:
        fail(
            "DataError",
            f"Imported HMAC key length ({length}) must be a non-zero value up to 7 bits less than, "
            f"and no greater than, the bit length of the raw key data ({key_bits}).",
        )
    found = lookup_digest(hash_name)
    algorithm = {"name": "HMAC", "hash": {"name": found.name}, "length": length}
    return Key("secret", algorithm, usages, request.extractable, zero_trailing_bits(data, length))


def generate_hmac(algorithm: dict[str, Any], extractable: bool, usages: list[str]) -> tuple[Any, Parts]:
    found = lookup_digest(str(required(algorithm, "hash")))
    granted = validate_usages("HMAC", "generate", usages, SIGN_VERIFY)
    length = algorithm.get("length")
    length = found.block_bits if length is None else int(length)
    if length <= 0:
        fail(
            "OperationError",
            f"HMAC key length must be a non-zero unsigned long integer (requested {length}).",
        )
    data = zero_trailing_bits(os.urandom((length + 7) // 8), length)
    key = Key("secret", {"name": "HMAC", "hash": {"name": found.name}, "length": length}, granted, extractable, data)
    return single_reply(key)


def hmac_tag(key: Key, data: bytes) -> bytes:
    # The hash is the key's; a hash given at call time is ignored, as in workerd.
    return hmac.new(key.material, data, lookup_digest(key.algorithm["hash"]["name"]).hashlib_name).digest()


def hmac_sign(key: Key, algorithm: dict[str, Any], data: bytes) -> bytes:
    return hmac_tag(key, data)


def hmac_verify(key: Key, algorithm: dict[str, Any], signature: bytes, data: bytes) -> bool:
    return hmac.compare_digest(hmac_tag(key, data), signature)


def export_hmac(key: Key, fmt: str) -> tuple[Any, Parts]:
    if fmt not in ("raw", "jwk"):
        fail("NotSupportedError", f'Unimplemented key export format "{fmt}".')
    if fmt == "raw":
        return None, [key.material]
    hash_name = key.algorithm["hash"]["name"]
    if not hash_name.startswith("SHA-"):
        fail("NotSupportedError", f'Unimplemented JWK key export format for key algorithm "{hash_name}".')
    jwk = {
        "kty": "oct",
        "k": b64url_encode(key.material),
        "alg": "HS" + hash_name[4:],
        "key_ops": ordered_usages(key.usages),
        "ext": True,
    }
    return {"jwk": jwk_in_order(jwk)}, []
