"""The twelve crypto.subtle operations ``run`` dispatches, and the tables that route each one to its
algorithm's module (crypto.c++ lookupAlgorithm: names are case-insensitive)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.runtime.host.crypto.aes import aes_cipher, aes_kw, export_aes, generate_aes, import_aes
from emulator.runtime.host.crypto.asymmetric import export_asymmetric
from emulator.runtime.host.crypto.derive import derive, derived_key_length, import_kdf
from emulator.runtime.host.crypto.digest import digest
from emulator.runtime.host.crypto.ec import ec_jwk, ec_raw, ecdsa_sign, ecdsa_verify, generate_ec, import_ec
from emulator.runtime.host.crypto.hmac import export_hmac, generate_hmac, hmac_sign, hmac_verify, import_hmac
from emulator.runtime.host.crypto.keys import ImportRequest, Key, single_reply
from emulator.runtime.host.crypto.okp import (
    ed25519_sign,
    ed25519_verify,
    generate_okp,
    import_okp,
    okp_jwk,
    okp_raw,
)
from emulator.runtime.host.crypto.rsa import (
    RSA_NAMES,
    generate_rsa,
    import_rsa,
    rsa_jwk,
    rsa_oaep,
    rsa_raw,
    rsa_sign,
    rsa_verify,
)
from emulator.runtime.host.crypto.wire import Parts, fail

# The algorithm table

ImportFunction = Callable[[ImportRequest], Key]
GenerateFunction = Callable[[dict[str, Any], bool, list[str]], tuple[Any, Parts]]


@dataclass(frozen=True)
class Algorithm:
    name: str
    import_key: ImportFunction | None = None
    generate_key: GenerateFunction | None = None


ALGORITHMS = {
    algorithm.name.upper(): algorithm
    for algorithm in (
        *(Algorithm(name, import_aes, generate_aes(name)) for name in ("AES-CTR", "AES-CBC", "AES-GCM", "AES-KW")),
        Algorithm("HMAC", import_hmac, generate_hmac),
        Algorithm("PBKDF2", import_kdf),
        Algorithm("HKDF", import_kdf),
        *(Algorithm(name, import_rsa, generate_rsa(name)) for name in RSA_NAMES),
        *(Algorithm(name, import_ec, generate_ec(name)) for name in ("ECDSA", "ECDH")),
        *(Algorithm(name, import_okp, generate_okp(name)) for name in ("NODE-ED25519", "Ed25519", "X25519")),
    )
}


def import_key(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    algorithm = meta["algorithm"]
    found = ALGORITHMS.get(str(algorithm["name"]).upper())
    if found is None or found.import_key is None:
        fail("NotSupportedError", f'Unrecognized key import algorithm "{algorithm["name"]}" requested.')
    request = ImportRequest(
        found.name,
        meta["format"],
        parts[0] if parts else None,
        meta.get("jwk"),
        algorithm,
        bool(meta["extractable"]),
        list(meta["usages"]),
    )
    return single_reply(found.import_key(request))


def generate_key(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    algorithm = dict(meta["algorithm"], _parts=parts)
    found = ALGORITHMS.get(str(algorithm["name"]).upper())
    if found is None or found.generate_key is None:
        fail("NotSupportedError", f'Unrecognized key generation algorithm "{algorithm["name"]}" requested.')
    return found.generate_key(algorithm, bool(meta["extractable"]), list(meta["usages"]))


SIGNERS: dict[str, Callable[[Key, dict[str, Any], bytes], bytes]] = {
    "HMAC": hmac_sign,
    "RSASSA-PKCS1-v1_5": rsa_sign,
    "RSA-PSS": rsa_sign,
    "ECDSA": ecdsa_sign,
    "Ed25519": ed25519_sign,
    "NODE-ED25519": ed25519_sign,
}


VERIFIERS: dict[str, Callable[[Key, dict[str, Any], bytes, bytes], bool]] = {
    "HMAC": hmac_verify,
    "RSASSA-PKCS1-v1_5": rsa_verify,
    "RSA-PSS": rsa_verify,
    "ECDSA": ecdsa_verify,
    "Ed25519": ed25519_verify,
    "NODE-ED25519": ed25519_verify,
}


def sign(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    key = Key.from_meta(meta["key"], parts[0])
    signer = SIGNERS.get(key.name)
    if signer is None:
        fail("NotSupportedError", f'The sign operation is not implemented for "{key.name}".')
    return None, [signer(key, meta["algorithm"], parts[1])]


def verify(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    key = Key.from_meta(meta["key"], parts[0])
    verifier = VERIFIERS.get(key.name)
    if verifier is None:
        fail("NotSupportedError", f'The verify operation is not implemented for "{key.name}".')
    return verifier(key, meta["algorithm"], parts[1], parts[2]), []


def cipher(encrypting: bool) -> Callable[[dict[str, Any], Parts], tuple[Any, Parts]]:
    def run_cipher(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
        key = Key.from_meta(meta["key"], parts[0])
        algorithm, data = meta["algorithm"], parts[1]
        if key.name.startswith("AES-") and key.name != "AES-KW":
            return None, [aes_cipher(key, algorithm, parts, data, encrypting)]
        if key.name == "RSA-OAEP":
            return None, [rsa_oaep(key, algorithm, parts, data, encrypting)]
        fail(
            "NotSupportedError",
            f'The {"encrypt" if encrypting else "decrypt"} operation is not implemented for "{key.name}".',
        )

    return run_cipher


def wrap(wrapping: bool) -> Callable[[dict[str, Any], Parts], tuple[Any, Parts]]:
    # impl.h: wrapKey/unwrapKey are encrypt/decrypt, except for AES-KW which only wraps.
    def run_wrap(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
        key = Key.from_meta(meta["key"], parts[0])
        if key.name == "AES-KW":
            return None, [aes_kw(key, parts[1], wrapping)]
        return cipher(wrapping)(meta, parts)

    return run_wrap


EXPORTERS: dict[str, Callable[[Key, str], tuple[Any, Parts]]] = {
    "HMAC": export_hmac,
    **{name: export_aes for name in ("AES-CTR", "AES-CBC", "AES-GCM", "AES-KW")},
    **{name: (lambda key, fmt: export_asymmetric(key, fmt, rsa_jwk, rsa_raw)) for name in RSA_NAMES},
    **{name: (lambda key, fmt: export_asymmetric(key, fmt, ec_jwk, ec_raw)) for name in ("ECDSA", "ECDH")},
    **{
        name: (lambda key, fmt: export_asymmetric(key, fmt, okp_jwk, okp_raw))
        for name in ("Ed25519", "X25519", "NODE-ED25519")
    },
}


def export_key(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    key = Key.from_meta(meta["key"], parts[0])
    exporter = EXPORTERS.get(key.name)
    if exporter is None:
        fail("NotSupportedError", f'Unrecognized or unsupported export of "{key.name}" requested.')
    return exporter(key, meta["format"])


# deriveKey derives the bits, then imports them as the key asked for


def derive_bits(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    key = Key.from_meta(meta["key"], parts[0])
    return None, [derive(key, meta["algorithm"], parts, meta.get("length"))]


def derive_key(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    key = Key.from_meta(meta["key"], parts[0])
    derived = meta["derivedKeyAlgorithm"]
    secret = derive(key, meta["algorithm"], parts, derived_key_length(derived))
    return import_key(
        {"format": "raw", "algorithm": derived, "extractable": meta["extractable"], "usages": meta["usages"]},
        [secret],
    )


OPERATIONS: dict[Any, Callable[[dict[str, Any], Parts], tuple[Any, Parts]]] = {
    "digest": digest,
    "importKey": import_key,
    "exportKey": export_key,
    "generateKey": generate_key,
    "sign": sign,
    "verify": verify,
    "encrypt": cipher(True),
    "decrypt": cipher(False),
    "wrapKey": wrap(True),
    "unwrapKey": wrap(False),
    "deriveBits": derive_bits,
    "deriveKey": derive_key,
}
