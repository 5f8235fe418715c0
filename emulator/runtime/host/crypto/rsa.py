"""RSA (rsa.c++): import, generation and export of RSASSA-PKCS1-v1_5, RSA-PSS and RSA-OAEP keys;
signatures with the first two, encryption and key wrapping with RSA-OAEP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from emulator.runtime.host.crypto.asymmetric import generated_pair, import_asymmetric
from emulator.runtime.host.crypto.digest import lookup_digest
from emulator.runtime.host.crypto.jwk import b64url_decode, b64url_encode, int_bytes
from emulator.runtime.host.crypto.keys import (
    SIGN_VERIFY,
    ImportRequest,
    Key,
    PrivateKey,
    PublicKey,
    asymmetric_key,
    validate_usages,
)
from emulator.runtime.host.crypto.wire import Parts, fail, required

RSA_NAMES = ("RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP")
RSA_OAEP_USAGES = frozenset({"encrypt", "decrypt", "wrapKey", "unwrapKey"})
JWK_RSA_HASHES = {
    "RS1": "SHA-1",
    "RS256": "SHA-256",
    "RS384": "SHA-384",
    "RS512": "SHA-512",
    "PS1": "SHA-1",
    "PS256": "SHA-256",
    "PS384": "SHA-384",
    "PS512": "SHA-512",
    "RSA-OAEP": "SHA-1",
    "RSA-OAEP-256": "SHA-256",
    "RSA-OAEP-384": "SHA-384",
    "RSA-OAEP-512": "SHA-512",
}
RSA_JWK_PRIVATE = (
    ("p", "First Prime Factor"),
    ("q", "Second Prime Factor"),
    ("dp", "First Factor CRT Exponent"),
    ("dq", "Second Factor CRT Exponent"),
    ("qi", "First CRT Coefficient"),
)


def validate_rsa_params(modulus_bits: int, exponent: bytes, importing: bool) -> None:
    # rsa.c++ Rsa::validateRsaParams, with the strict_crypto_checks flag on (the default since 2023-08-01).
    if not (modulus_bits % 8 == 0 and 256 <= modulus_bits <= 16384):
        fail(
            "OperationError",
            f"The modulus length must be a multiple of 8 and between 256 and 16k, but {modulus_bits} was requested.",
        )
    value = int.from_bytes(exponent, "big")
    if value >= 1 << 32:
        fail(
            "OperationError",
            'The "publicExponent" must be either 3 or 65537, but got a number larger than 2^32.',
        )
    if not importing and value not in (3, 65537):
        fail("OperationError", f'The "publicExponent" must be either 3 or 65537, but got {value}.')
    if importing and value not in (3, 17, 37, 65537):
        fail("OperationError", f"Imported RSA key has invalid publicExponent {value}.")


def rsa_algorithm(name: str, public: rsa.RSAPublicNumbers, hash_name: str) -> dict[str, Any]:
    modulus_bits = (public.n.bit_length() + 7) // 8 * 8  # RSA_size() * 8
    return {
        "name": name,
        "modulusLength": modulus_bits,
        "publicExponent": list(int_bytes(public.e)),
        "hash": {"name": hash_name},
    }


def import_rsa(request: ImportRequest) -> Key:
    hash_name = str(required(request.algorithm, "hash"))
    allowed = RSA_OAEP_USAGES if request.name == "RSA-OAEP" else SIGN_VERIFY
    found = lookup_digest(hash_name)

    def read_jwk(jwk: dict[str, Any]) -> PrivateKey | PublicKey:
        if jwk.get("kty") != "RSA":
            fail(
                "DataError",
                'RSASSA-PKCS1-v1_5 "jwk" key import requires a JSON Web Key with Key Type parameter '
                f'"kty" ("{jwk.get("kty")}") equal to "RSA".',
            )
        alg = jwk.get("alg")
        if alg is not None:
            # rsa.c++ compares the caller's spelling of the algorithm name here, not the normalized one.
            if request.algorithm["name"] not in RSA_NAMES:
                fail("NotSupportedError", f'Unrecognized RSA variant "{request.algorithm["name"]}".')
            jwk_hash = JWK_RSA_HASHES.get(alg)
            if jwk_hash is None:
                fail(
                    "NotSupportedError",
                    f'Unrecognized or unimplemented algorithm "{alg}" listed in JSON Web Key Algorithm parameter.',
                )
            if jwk_hash != found.name:
                fail(
                    "DataError",
                    f'JSON Web Key Algorithm parameter "alg" ("{alg}") does not match requested hash '
                    f'algorithm "{alg}".',
                )
        return rsa_from_jwk(jwk)

    key, kind, usages = import_asymmetric(request, allowed, read_jwk)
    if not isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        fail("DataError", "Input was not an RSA key.")
    numbers = key.public_key().public_numbers() if isinstance(key, rsa.RSAPrivateKey) else key.public_numbers()
    algorithm = rsa_algorithm(request.name, numbers, found.name)
    validate_rsa_params(algorithm["modulusLength"], int_bytes(numbers.e), importing=True)
    return asymmetric_key(kind, key, algorithm, usages, request.extractable)


def rsa_from_jwk(jwk: dict[str, Any]) -> PrivateKey | PublicKey:
    prefix = "Invalid RSA key in JSON Web Key; missing or invalid"
    n = int.from_bytes(b64url_decode(jwk.get("n"), f'{prefix} Modulus parameter ("n").'), "big")
    e = int.from_bytes(b64url_decode(jwk.get("e"), f'{prefix} Exponent parameter ("e").'), "big")
    public = rsa.RSAPublicNumbers(e, n)
    if jwk.get("d") is None:
        try:
            return public.public_key()
        except ValueError:
            fail("DataError", "Invalid RSA key in JSON Web Key.")
    d = int.from_bytes(b64url_decode(jwk.get("d"), f'{prefix} Private Exponent parameter ("d").'), "big")
    present = sum(jwk.get(member) is not None for member, _ in RSA_JWK_PRIVATE)
    try:
        if present == len(RSA_JWK_PRIVATE):
            p, q, dp, dq, qi = (
                int.from_bytes(
                    b64url_decode(
                        jwk.get(member),
                        f'Invalid RSA key in JSON Web Key; invalid {label} parameter ("{member}").',
                    ),
                    "big",
                )
                for member, label in RSA_JWK_PRIVATE
            )
        elif present == 0:
            # BoringSSL signs with n, e, d alone; cryptography wants the primes, which n, e, d determine.
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
            dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
        else:
            fail(
                "DataError",
                "Invalid RSA private key in JSON Web Key; if one Prime Factor or CRT "
                'Exponent/Coefficient parameter is present, then they must all be present ("p", '
                '"q", "dp", "dq", "qi").',
            )
        return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public).private_key()
    except ValueError:
        fail("DataError", "Invalid RSA key in JSON Web Key.")


def generate_rsa(name: str) -> Callable[[dict[str, Any], bool, list[str]], tuple[Any, Parts]]:
    def generate(algorithm: dict[str, Any], extractable: bool, usages: list[str]) -> tuple[Any, Parts]:
        exponent_index = required(algorithm, "publicExponent")
        hash_name = str(required(algorithm, "hash"))
        modulus_bits = int(required(algorithm, "modulusLength"))
        if modulus_bits <= 0:
            fail("OperationError", f"modulusLength must be greater than zero (requested {modulus_bits}).")
        found = lookup_digest(hash_name)
        granted = validate_usages(name, "generate", usages, RSA_OAEP_USAGES if name == "RSA-OAEP" else SIGN_VERIFY)
        exponent = algorithm["_parts"][exponent_index]
        validate_rsa_params(modulus_bits, exponent, importing=False)
        if modulus_bits & 127:
            fail("OperationError", "Can't generate key: RSA key size is required to be a multiple of 128")
        if modulus_bits < 1024:
            # Workers generates these; `cryptography` refuses (a local limitation, never a production one).
            fail(
                "OperationError",
                f"RSA keys of {modulus_bits} bits cannot be generated locally (outbound's "
                "crypto backend needs at least 1024 bits); import one instead.",
            )
        private = rsa.generate_private_key(int.from_bytes(exponent, "big"), modulus_bits)
        described = {
            "name": name,
            "modulusLength": modulus_bits,
            "publicExponent": list(exponent),
            "hash": {"name": found.name},
        }
        return generated_pair(private, described, granted, extractable)

    return generate


def rsa_padding(key: Key, algorithm: dict[str, Any], signing: bool) -> padding.AsymmetricPadding:
    digest_size = lookup_digest(key.algorithm["hash"]["name"]).size
    if key.name == "RSASSA-PKCS1-v1_5":
        return padding.PKCS1v15()
    salt = algorithm.get("saltLength")
    if salt is None:
        fail(
            "DataError" if signing else "TypeError",
            "Failed to provide salt for RSA-PSS key operation which requires a salt",
        )
    salt = int(salt)
    if salt < 0:
        fail("DataError", f"SaltLength for RSA-PSS must be non-negative (provided {salt}).")
    if signing:
        size = key.algorithm["modulusLength"] // 8
        if digest_size + 2 > size:
            fail("OperationError", "key too small for signing with given digest")
        if salt > size - digest_size - 2:
            fail("OperationError", "key too small for signing with given digest and salt length")
    hash_class = lookup_digest(key.algorithm["hash"]["name"]).algorithm
    return padding.PSS(mgf=padding.MGF1(hash_class()), salt_length=salt)


def rsa_sign(key: Key, algorithm: dict[str, Any], data: bytes) -> bytes:
    if key.type != "private":
        fail("InvalidAccessError", "Asymmetric signing requires a private key.")
    found = lookup_digest(key.algorithm["hash"]["name"])  # the key's hash; a call-time hash is ignored
    if key.name == "RSASSA-PKCS1-v1_5" and found.size + 32 > key.algorithm["modulusLength"] // 8:
        fail(
            "OperationError",
            f"key too small for signing with given digest, need at least {8 * (found.size + 32)}bits.",
        )
    pad = rsa_padding(key, algorithm, signing=True)
    private = key.private()
    assert isinstance(private, rsa.RSAPrivateKey)
    return private.sign(data, pad, found.algorithm())


def rsa_verify(key: Key, algorithm: dict[str, Any], signature: bytes, data: bytes) -> bool:
    if key.type != "public":
        fail("InvalidAccessError", "Asymmetric verification requires a public key.")
    found = lookup_digest(key.algorithm["hash"]["name"])
    pad = rsa_padding(key, algorithm, signing=False)
    public = key.public()
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        public.verify(signature, data, pad, found.algorithm())
    except (InvalidSignature, ValueError):
        return False
    return True


def rsa_oaep(key: Key, algorithm: dict[str, Any], parts: Parts, data: bytes, encrypting: bool) -> bytes:
    if encrypting and key.type != "public":
        fail("InvalidAccessError", f'Encryption/key wrapping only works with public keys, not "{key.type}".')
    if not encrypting and key.type != "private":
        fail("InvalidAccessError", f'Decryption/key unwrapping only works with private keys, not "{key.type}".')
    hash_class = lookup_digest(key.algorithm["hash"]["name"]).algorithm
    label_index = algorithm.get("label")
    label = parts[label_index] if label_index is not None else None
    pad = padding.OAEP(mgf=padding.MGF1(hash_class()), algorithm=hash_class(), label=label or None)
    try:
        if encrypting:
            public = key.public()
            assert isinstance(public, rsa.RSAPublicKey)
            return public.encrypt(data, pad)
        private = key.private()
        assert isinstance(private, rsa.RSAPrivateKey)
        return private.decrypt(data, pad)
    except ValueError:
        fail("OperationError", "RSA-OAEP failed encrypt/decrypt.")


def rsa_jwk(key: Key) -> dict[str, Any]:
    hash_name = key.algorithm["hash"]["name"]
    if not hash_name.startswith("SHA"):
        fail("NotSupportedError", f'JWK export not supported for hash algorithm "{hash_name}".')
    if key.name == "RSA-OAEP":
        alg = "RSA-OAEP" if hash_name == "SHA-1" else f"RSA-OAEP-{hash_name[4:]}"
    else:
        alg = ("RS" if key.name == "RSASSA-PKCS1-v1_5" else "PS") + hash_name[4:]
    if key.type == "private":
        private = key.private()
        assert isinstance(private, rsa.RSAPrivateKey)
        numbers = private.private_numbers()
        public = numbers.public_numbers
        extra = {
            "d": numbers.d,
            "p": numbers.p,
            "q": numbers.q,
            "dp": numbers.dmp1,
            "dq": numbers.dmq1,
            "qi": numbers.iqmp,
        }
    else:
        public_key = key.public()
        assert isinstance(public_key, rsa.RSAPublicKey)
        public, extra = public_key.public_numbers(), {}
    jwk: dict[str, Any] = {
        "kty": "RSA",
        "alg": alg,
        "n": b64url_encode(int_bytes(public.n)),
        "e": b64url_encode(int_bytes(public.e)),
    }
    jwk.update({member: b64url_encode(int_bytes(value)) for member, value in extra.items()})
    return jwk


def rsa_raw(key: Key) -> bytes:
    fail("InvalidAccessError", f'Cannot export "{key.name}" in "raw" format.')
