"""Digest algorithms (impl.c++ lookupDigestAlgorithm: case-insensitive; MD5 kept because people use it
anyway), for crypto.subtle.digest and for every algorithm that names a hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes

from emulator.runtime.host.crypto.wire import Parts, fail


@dataclass(frozen=True)
class Digest:
    name: str
    hashlib_name: str
    algorithm: type[hashes.HashAlgorithm]
    size: int  # bytes
    block_bits: int


DIGESTS = {
    digest.name.upper(): digest
    for digest in (
        Digest("SHA-1", "sha1", hashes.SHA1, 20, 512),
        Digest("SHA-256", "sha256", hashes.SHA256, 32, 512),
        Digest("SHA-384", "sha384", hashes.SHA384, 48, 1024),
        Digest("SHA-512", "sha512", hashes.SHA512, 64, 1024),
        Digest("MD5", "md5", hashes.MD5, 16, 512),
    )
}


def lookup_digest(name: str) -> Digest:
    digest = DIGESTS.get(name.upper())
    if digest is None:
        fail("NotSupportedError", "Unrecognized or unimplemented digest algorithm requested.")
    return digest


def digest(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    # Every part is hashed in order: a DigestStream sends the chunks it was written.
    hasher = hashlib.new(lookup_digest(meta["algorithm"]).hashlib_name)
    for part in parts:
        hasher.update(part)
    return None, [hasher.digest()]
