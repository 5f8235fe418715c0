"""CryptoKeys as they travel between JS and here, the usages they may hold, and the parsed-key cache.

A key arrives described in JSON (``Key.describe``'s shape: type, algorithm, usages, extractable) with its
material as one part: raw bytes for a secret key, PKCS #8 DER for a private key, SPKI DER for a public
one. Parsing DER is the slow part of signing (an RSA private key is checked on load), so ``Key.private``
and ``Key.public`` go through an LRU of ``KEY_CACHE_SIZE`` parsed keys, keyed by those bytes. Usages
follow crypto.c++ CryptoKeyUsageSet. ``ImportRequest`` is an importKey call as each algorithm's importer
sees it; ``single_reply`` replies with the one key an import or a secret-key generation made.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from emulator.runtime.host.crypto.wire import Parts, fail

KEY_CACHE_SIZE = 64  # parsed asymmetric keys kept per worker process

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey


# Key usages (crypto.c++ CryptoKeyUsageSet)

USAGES = ("encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey")
PUBLIC_USAGES = frozenset({"encrypt", "verify", "wrapKey"})
PRIVATE_USAGES = frozenset({"decrypt", "sign", "unwrapKey", "deriveKey", "deriveBits"})
SIGN_VERIFY = frozenset({"sign", "verify"})
DERIVE = frozenset({"deriveKey", "deriveBits"})


def validate_usages(name: str, context: str, requested: list[str], allowed: frozenset[str]) -> frozenset[str]:
    """``context`` is "generate", "import secret", "import public" or "import private"."""
    for usage in requested:
        if usage not in allowed:
            fail("SyntaxError", f'Attempt to {context} {name} key with invalid usage "{usage}".')
    return frozenset(requested)


def ordered_usages(usages: frozenset[str]) -> list[str]:
    return [usage for usage in USAGES if usage in usages]


# Keys as they travel: described in JSON, material as one part


@dataclass(frozen=True)
class Key:
    type: str  # "secret" | "public" | "private"
    algorithm: dict[str, Any]  # the KeyAlgorithm dictionary; an RSA publicExponent as a list of byte values
    usages: frozenset[str]
    extractable: bool
    material: bytes  # raw (secret), PKCS #8 DER (private) or SPKI DER (public)

    @property
    def name(self) -> str:
        return str(self.algorithm["name"])

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "extractable": self.extractable,
            "algorithm": self.algorithm,
            "usages": ordered_usages(self.usages),
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any], material: bytes) -> Key:
        return cls(meta["type"], meta["algorithm"], frozenset(meta["usages"]), bool(meta["extractable"]), material)

    def private(self) -> PrivateKey:
        return _load_private(self.material)

    def public(self) -> PublicKey:
        return _load_public(self.material)


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _load_private(der: bytes) -> PrivateKey:
    key = serialization.load_der_private_key(der, password=None)
    assert isinstance(key, PrivateKey)
    return key


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _load_public(der: bytes) -> PublicKey:
    key = serialization.load_der_public_key(der)
    assert isinstance(key, PublicKey)
    return key


def private_material(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_material(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def asymmetric_key(
    kind: str,
    key: PrivateKey | PublicKey,
    algorithm: dict[str, Any],
    usages: frozenset[str],
    extractable: bool,
) -> Key:
    if kind == "private":
        assert isinstance(key, PrivateKey)
        material = private_material(key)
    else:
        assert isinstance(key, PublicKey)
        material = public_material(key)
    return Key(kind, algorithm, usages, extractable, material)


@dataclass(frozen=True)
class ImportRequest:
    name: str  # the algorithm's canonical name
    format: str
    data: bytes | None  # raw / spki / pkcs8
    jwk: dict[str, Any] | None
    algorithm: dict[str, Any]  # as the caller gave it; "name" keeps the caller's spelling
    extractable: bool
    usages: list[str]


def single_reply(key: Key) -> tuple[Any, Parts]:
    # crypto.c++ importKeySync / generateKey
    if not key.usages and key.type in ("secret", "private"):
        fail("SyntaxError", "Secret/private CryptoKeys must have at least one usage.")
    return {"key": key.describe()}, [key.material]
