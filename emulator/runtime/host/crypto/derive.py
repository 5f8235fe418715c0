"""Key derivation: the bits behind deriveBits and deriveKey from ECDH and X25519 agreement (ec.c++),
HKDF (hkdf.c++) and PBKDF2 (pbkdf2.c++); the import of HKDF and PBKDF2 keys; the length of a key to derive."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from emulator.runtime.host.crypto.digest import lookup_digest
from emulator.runtime.host.crypto.keys import DERIVE, ImportRequest, Key, validate_usages
from emulator.runtime.host.crypto.wire import Parts, fail, required


def import_kdf(request: ImportRequest) -> Key:
    # hkdf.c++ / pbkdf2.c++ importHkdf, importPbkdf2 (PBKDF2's message alone ends with a period)
    name = request.name
    usages = validate_usages(name, "import secret", request.usages, DERIVE)
    if request.extractable:
        fail("SyntaxError", f"{name} key cannot be extractable.")
    if request.format != "raw":
        period = "." if name == "PBKDF2" else ""
        fail(
            "NotSupportedError",
            f'{name} key must be imported in "raw" format (requested "{request.format}"){period}',
        )
    assert request.data is not None
    return Key("secret", {"name": name}, usages, False, request.data)


PBKDF2_MAX_ITERATIONS = 100_000  # production Workers' limit (io/limit-enforcer.h); workerd itself has none


def derive(key: Key, algorithm: dict[str, Any], parts: Parts, length: int | None) -> bytes:
    name = key.name
    if name in ("ECDH", "X25519"):
        return agree(key, algorithm, parts, length)
    if name == "HKDF":
        found = lookup_digest(str(required(algorithm, "hash")))
        salt = parts[required(algorithm, "salt")]
        info = parts[required(algorithm, "info")]
        if length is None:
            fail("OperationError", "HKDF cannot derive a key with null length.")
        if length % 8:
            fail(
                "OperationError",
                f"HKDF requires a derived key length that is a multiple of eight (requested {length}).",
            )
        if length == 0:
            return b""
        if length // 8 > 255 * found.size:
            fail("OperationError", "HKDF deriveBits failed.")
        return HKDF(found.algorithm(), length // 8, salt, info).derive(key.material)
    if name == "PBKDF2":
        found = lookup_digest(str(required(algorithm, "hash")))
        salt = parts[required(algorithm, "salt")]
        iterations = int(required(algorithm, "iterations"))
        if length is None:
            fail("OperationError", "PBKDF2 cannot derive a key with null length.")
        if length % 8:
            fail(
                "OperationError",
                f"PBKDF2 requires a derived key length that is a multiple of eight (requested {length}).",
            )
        if iterations <= 0:
            fail("OperationError", f"PBKDF2 requires a positive iteration count (requested {iterations}).")
        if iterations > PBKDF2_MAX_ITERATIONS:
            fail(
                "NotSupportedError",
                f"Pbkdf2 failed: iteration counts above {PBKDF2_MAX_ITERATIONS} are not "
                f"supported (requested {iterations}).",
            )
        if length // 8 > 255 * found.size:
            fail("OperationError", "Pbkdf2 failed: derived key length exceeds maximum for this hash")
        if length == 0:
            return b""
        return hashlib.pbkdf2_hmac(found.hashlib_name, key.material, salt, iterations, length // 8)
    fail("NotSupportedError", f'The deriveKey and deriveBits operations are not implemented for "{name}".')


DERIVABLE = {"AES-CTR", "AES-CBC", "AES-GCM", "AES-KW", "HMAC", "HKDF", "PBKDF2"}


def derived_key_length(algorithm: dict[str, Any]) -> int | None:
    # crypto.c++ getKeyLength: the spec's "get key length" operation of the key to derive
    name = str(algorithm["name"]).upper()
    if name not in DERIVABLE:
        fail("NotSupportedError", f'Unrecognized derived key type "{algorithm["name"]}" requested.')
    if name.startswith("AES-"):
        length = algorithm.get("length")
        if length is None:
            fail("TypeError", 'Missing field "length" in "derivedKeyParams".')
        if int(length) not in (128, 192, 256):
            fail(
                "OperationError",
                f"Derived AES key must be 128, 192, or 256 bits in length but provided {length}.",
            )
        return int(length)
    if name == "HMAC":
        length = algorithm.get("length")
        if length is not None:
            if int(length) > 0:
                return int(length)
            fail("TypeError", "HMAC key length must be a non-zero unsigned long integer.")
        hash_name = algorithm.get("hash")
        if hash_name is None:
            fail("TypeError", 'Missing field "hash" in "derivedKeyParams".')
        return lookup_digest(str(hash_name)).block_bits
    return None


def algorithm_kind(algorithm: dict[str, Any]) -> str:
    # Which KeyAlgorithm dictionary a public key has: workerd compares AlgorithmVariant::which() before names.
    if "namedCurve" in algorithm:
        return "elliptic"
    return "rsa" if "modulusLength" in algorithm else "plain"


def agree(key: Key, algorithm: dict[str, Any], parts: Parts, length: int | None) -> bytes:
    name = key.name
    if key.type != "private":
        fail(
            "InvalidAccessError",
            f'The deriveBits operation is only valid for a private key, not "{key.type}".',
        )
    peer_meta = algorithm.get("public")
    if peer_meta is None:
        fail("TypeError", 'Missing field "public" in "derivedKeyParams".')
    peer = Key.from_meta(peer_meta, parts[peer_meta["part"]])
    if peer.type != "public":
        fail("InvalidAccessError", f'The provided key has type "{peer.type}", not "public"')
    if algorithm_kind(peer.algorithm) != algorithm_kind(key.algorithm):
        fail(
            "InvalidAccessError",
            f"Base {name} private key cannot be used to derive a key from a peer {peer.name} public key",
        )
    if peer.name != name:
        fail(
            "InvalidAccessError",
            f'Private key for derivation is using "{name}" while public key is using "{peer.name}".',
        )
    if name == "ECDH":
        if peer.algorithm["namedCurve"] != key.algorithm["namedCurve"]:
            fail(
                "InvalidAccessError",
                f'Private key for derivation is using curve "{key.algorithm["namedCurve"]}" '
                f'while public key is using "{peer.algorithm["namedCurve"]}".',
            )
        private = key.private()
        public = peer.public()
        assert isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey)
        secret = private.exchange(ec.ECDH(), public)
    else:
        x_private = key.private()
        x_public = peer.public()
        assert isinstance(x_private, x25519.X25519PrivateKey) and isinstance(x_public, x25519.X25519PublicKey)
        try:
            secret = x_private.exchange(x_public)
        except ValueError:
            fail("OperationError", "Detected small order secure curve points, aborting EDDH derivation")
    return mask_bits(secret, length)


def mask_bits(secret: bytes, length_bits: int | None) -> bytes:
    # ec.c++ deriveBits: the first `length` bits, the rest of the last byte zeroed.
    if length_bits is None:
        return secret
    if length_bits > len(secret) * 8:
        fail(
            "OperationError",
            f"Derived key length ({length_bits} bits) is too long (should be at most {len(secret) * 8} bits).",
        )
    out = secret[: (length_bits + 7) // 8]
    spare = len(out) * 8 - length_bits
    if spare:
        out = out[:-1] + bytes([out[-1] & (0xFF << spare) & 0xFF])
    return out
