"""crypto.subtle for the JS runtime: every operation done with `cryptography` (see js/crypto.js).

js/crypto.js checks a call's arguments as WebIDL would (types, algorithm objects, a key's usages), then
sends one operation here through ``host.crypto``. This module does what workerd's
``src/workerd/api/crypto/*.c++`` does for that operation, in the same order and with the same DOMException
names and messages, so a handler sees Workers' errors verbatim.

Key material never lives here: a CryptoKey keeps it in JS (raw bytes for secret keys, PKCS #8 DER for
private keys, SPKI DER for public keys) and sends it with each operation. Parsing DER is the slow part of
signing (an RSA private key is checked on load), so parsed keys are cached in a small LRU keyed by those
bytes: minting one JWT per request costs one parse, not one per request. Nothing here is a handle JS must
release.

Wire format (both ways ``bridge.pack_meta``: length-prefixed JSON, then raw bytes)::

    request  {"op": "sign", "parts": [n0, n1, ...], ...}            part bytes, concatenated
    reply    {"ok": <result>, "parts": [n0, ...]}                   part bytes, concatenated
             {"error": {"name": "DataError", "message": "..."}}     (never an exception)

Where a request refers to extra buffers (an IV, a salt, a public exponent) its JSON holds their part index.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.padding import PKCS7

from emulator.runtime.bridge import pack_meta, unpack_meta

KEY_CACHE_SIZE = 64  # parsed asymmetric keys kept per worker process

PrivateKey = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey
)
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey
Parts = list[bytes]


class WebCryptoError(Exception):
    """A failure JS raises as ``name`` (a DOMException name, TypeError or RangeError) with workerd's text."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def fail(name: str, message: str) -> NoReturn:
    raise WebCryptoError(name, message)


async def run(payload: bytes) -> bytes:
    """One WebCrypto operation: ``payload`` and the result are framed as the module docstring shows."""
    try:
        meta, body = unpack_meta(payload)
        parts, offset = [], 0
        for length in meta.get("parts", []):
            parts.append(body[offset : offset + length])
            offset += length
        operation = OPERATIONS.get(meta.get("op"))
        if operation is None:
            fail("NotSupportedError", f"Unknown crypto operation {meta.get('op')!r}.")
        result, out = operation(meta, parts)
        return pack_meta({"ok": result, "parts": [len(p) for p in out]}, b"".join(out))
    except WebCryptoError as error:
        return pack_meta({"error": {"name": error.name, "message": error.message}})
    except Exception as error:  # noqa: BLE001 - a bug here must reach the handler as a rejection, not kill it
        message = f"Internal error in crypto.subtle ({type(error).__name__}: {error})."
        return pack_meta({"error": {"name": "OperationError", "message": message}})


# ---------------------------------------------------------------------------------------------------------
# Digests (impl.c++ lookupDigestAlgorithm: case-insensitive; MD5 kept because people use it anyway)


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


# ---------------------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------------------
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
        return cls(
            meta["type"], meta["algorithm"], frozenset(meta["usages"]), bool(meta["extractable"]), material
        )

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


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by the algorithms


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


def required(algorithm: dict[str, Any], field: str, where: str = "algorithm") -> Any:
    value = algorithm.get(field)
    if value is None:
        fail("TypeError", f'Missing field "{field}" in "{where}".')
    return value


def zero_trailing_bits(data: bytes, length_bits: int) -> bytes:
    # digest.c++ zeroOutTrailingKeyBits: an HMAC key of 13 bits keeps the top 5 bits of its second byte.
    spare = len(data) * 8 - length_bits
    if spare <= 0 or not data:
        return data
    return data[:-1] + bytes([data[-1] & (0xFF << spare) & 0xFF])


def der_length(data: bytes) -> int | None:
    """Total length of the DER SEQUENCE that starts ``data`` (to tell trailing bytes from garbage)."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    if data[1] < 0x80:
        return 2 + data[1]
    count = data[1] & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big")


def parse_der(data: bytes, loader: Callable[[bytes], Any], label: str) -> Any:
    # keys.c++ importAsymmetricForWebCrypto: "Invalid SPKI input." or, when a whole key is followed by more
    # bytes, "Invalid 3 trailing bytes after SPKI input."
    end = der_length(data)
    if end is not None and end < len(data):
        try:
            loader(data[:end])
        except (ValueError, UnsupportedAlgorithm):
            fail("DataError", f"Invalid {label} input.")
        fail("DataError", f"Invalid {len(data) - end} trailing bytes after {label} input.")
    try:
        return loader(data)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        fail("DataError", f"Invalid {label} input.")


def mask_bits(secret: bytes, length_bits: int | None) -> bytes:
    # ec.c++ deriveBits: the first `length` bits, the rest of the last byte zeroed.
    if length_bits is None:
        return secret
    if length_bits > len(secret) * 8:
        fail(
            "OperationError",
            f"Derived key length ({length_bits} bits) is too long (should be at most "
            f"{len(secret) * 8} bits).",
        )
    out = secret[: (length_bits + 7) // 8]
    spare = len(out) * 8 - length_bits
    if spare:
        out = out[:-1] + bytes([out[-1] & (0xFF << spare) & 0xFF])
    return out


@dataclass(frozen=True)
class ImportRequest:
    name: str  # the algorithm's canonical name
    format: str
    data: bytes | None  # raw / spki / pkcs8
    jwk: dict[str, Any] | None
    algorithm: dict[str, Any]  # as the caller gave it; "name" keeps the caller's spelling
    extractable: bool
    usages: list[str]


# ---------------------------------------------------------------------------------------------------------
# Asymmetric import shared by RSA, EC and the 25519 curves (keys.c++ importAsymmetricForWebCrypto)


def import_asymmetric(
    request: ImportRequest,
    allowed: frozenset[str],
    read_jwk: Callable[[dict[str, Any]], PrivateKey | PublicKey],
) -> tuple[PrivateKey | PublicKey, str, frozenset[str]]:
    name, fmt = request.name, request.format
    if fmt == "jwk":
        jwk = request.jwk
        assert jwk is not None
        if jwk.get("d") is not None:
            kind = "private"
            usages = validate_usages(name, "import private", request.usages, allowed & PRIVATE_USAGES)
            if jwk.get("oth") is not None:
                fail("NotSupportedError", "Multi-prime private keys not supported.")
        else:
            kind = "public"
            public_allowed = frozenset() if name == "ECDH" else PUBLIC_USAGES
            usages = validate_usages(name, "import public", request.usages, allowed & public_allowed)
        if name == "RSA-OAEP":
            expected_use, op0, op1 = "enc", "encrypt", "wrapKey"
        elif name in ("ECDH", "X25519"):
            expected_use, op0, op1 = "enc", "unused", "unused"
        else:
            expected_use, op0, op1 = "sig", "sign", "verify"
        use = jwk.get("use")
        if request.usages and use is not None and use != expected_use:
            fail(
                "DataError",
                'Asymmetric "jwk" key import with usages requires a JSON Web Key with Public Key '
                f'Use parameter "use" ("{use}") equal to "sig".',
            )
        ops = jwk.get("key_ops")
        if ops is not None:
            if len(set(ops)) != len(ops):
                fail(
                    "DataError",
                    'A JSON Web Key\'s Key Operations parameter ("key_ops") must not contain duplicates.',
                )
            if use is not None:
                if use != expected_use:
                    fail(
                        "DataError",
                        'Asymmetric "jwk" import requires a JSON Web Key with Public Key Use '
                        f'"use" ("{use}") equal to "{expected_use}".',
                    )
                for op in sorted(ops):
                    if name in ("ECDH", "X25519"):
                        fail(
                            "DataError",
                            'A JSON Web Key should have either a Public Key Use parameter ("use") '
                            'or a Key Operations parameter ("key_ops"); otherwise, the parameters '
                            f"must be consistent with each other. For public {name} keys, there "
                            'are no valid usages,so keys with a non-empty "key_ops" parameter '
                            "are not allowed.",
                        )
                    if op not in (op0, op1):
                        fail(
                            "DataError",
                            'A JSON Web Key should have either a Public Key Use parameter ("use") '
                            'or a Key Operations parameter ("key_ops"); otherwise, the parameters '
                            f"must be consistent with each other. A Public Key Use for {name} "
                            f'would allow a Key Operations array with only "{op0}" and/or '
                            f'"{op1}" values (not "{op}").',
                        )
            if request.usages:
                # keys.c++ checks the first usage and the one after its last repetition, no more.
                checked = [request.usages[0]]
                last = len(request.usages) - 1 - request.usages[::-1].index(request.usages[0])
                if last + 1 < len(request.usages):
                    checked.append(request.usages[last + 1])
                if any(usage not in ops for usage in checked):
                    fail(
                        "DataError",
                        "All specified key usages must be present in the JSON Web Key's Key "
                        'Operations parameter ("key_ops").',
                    )
        return read_jwk(jwk), kind, usages
    if fmt == "spki":
        assert request.data is not None
        public = parse_der(request.data, serialization.load_der_public_key, "SPKI")
        public_allowed = frozenset() if name == "ECDH" else PUBLIC_USAGES
        return (
            public,
            "public",
            validate_usages(name, "import public", request.usages, allowed & public_allowed),
        )
    if fmt == "pkcs8":
        assert request.data is not None
        private = parse_der(
            request.data, lambda d: serialization.load_der_private_key(d, password=None), "PKCS8"
        )
        return (
            private,
            "private",
            validate_usages(name, "import private", request.usages, allowed & PRIVATE_USAGES),
        )
    fail("NotSupportedError", f'Unrecognized key import format "{fmt}".')


def export_asymmetric(
    key: Key, fmt: str, to_jwk: Callable[[Key], dict[str, Any]], to_raw: Callable[[Key], bytes]
) -> tuple[Any, Parts]:
    # keys.c++ AsymmetricKeyCryptoKeyImpl::exportKey
    if fmt == "pkcs8":
        if key.type != "private":
            fail("InvalidAccessError", f'Asymmetric pkcs8 export requires private key (not "{key.type}").')
        return None, [key.material]
    if fmt == "spki":
        if key.type != "public":
            fail("InvalidAccessError", f'Asymmetric spki export requires public key (not "{key.type}").')
        return None, [key.material]
    if fmt == "jwk":
        jwk = to_jwk(key)
        jwk["ext"] = True
        jwk["key_ops"] = ordered_usages(key.usages)
        return {"jwk": jwk_in_order(jwk)}, []
    if fmt == "raw":
        return None, [to_raw(key)]
    fail("InvalidAccessError", f'Cannot export "{key.name}" in "{fmt}" format.')


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


def generated_pair(
    private: PrivateKey, algorithm: dict[str, Any], usages: frozenset[str], extractable: bool
) -> tuple[Any, Parts]:
    public = asymmetric_key("public", private.public_key(), algorithm, usages & PUBLIC_USAGES, True)
    secret = asymmetric_key("private", private, algorithm, usages & PRIVATE_USAGES, extractable)
    return pair_reply(public, secret)


def pair_reply(public: Key, private: Key) -> tuple[Any, Parts]:
    # crypto.c++ generateKey: checked after generation, as workerd does.
    if not private.usages:
        fail("SyntaxError", "Attempt to generate asymmetric keys with no valid private key usages.")
    return {"publicKey": public.describe(), "privateKey": private.describe()}, [
        public.material,
        private.material,
    ]


# ---------------------------------------------------------------------------------------------------------
# HMAC (digest.c++)


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
    key = Key(
        "secret", {"name": "HMAC", "hash": {"name": found.name}, "length": length}, granted, extractable, data
    )
    return single_reply(key)


def hmac_tag(key: Key, data: bytes) -> bytes:
    # The hash is the key's; a hash given at call time is ignored, as in workerd.
    return hmac.new(key.material, data, lookup_digest(key.algorithm["hash"]["name"]).hashlib_name).digest()


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


def single_reply(key: Key) -> tuple[Any, Parts]:
    # crypto.c++ importKeySync / generateKey
    if not key.usages and key.type in ("secret", "private"):
        fail("SyntaxError", "Secret/private CryptoKeys must have at least one usage.")
    return {"key": key.describe()}, [key.material]


# ---------------------------------------------------------------------------------------------------------
# AES (aes.c++): GCM, CBC, CTR and KW


def aes_allowed(name: str) -> frozenset[str]:
    allowed = {"wrapKey", "unwrapKey"}
    if name != "AES-KW":
        allowed |= {"encrypt", "decrypt"}
    return frozenset(allowed)


def import_aes(request: ImportRequest) -> Key:
    name = request.name
    usages = validate_usages(name, "import secret", request.usages, aes_allowed(name))
    if request.format == "raw":
        assert request.data is not None
        data = request.data
        if len(data) * 8 not in (128, 192, 256):
            fail(
                "DataError",
                f"Imported AES key length must be 128, 192, or 256 bits but provided {len(data) * 8}.",
            )
    elif request.format == "jwk":
        jwk = request.jwk
        assert jwk is not None
        if jwk.get("kty") != "oct":
            fail(
                "DataError",
                'Symmetric "jwk" key import requires a JSON Web Key with Key Type parameter "kty" '
                f'equal to "oct" (encountered "{jwk.get("kty")}").',
            )
        data = b64url_decode(
            jwk.get("k"), 'Symmetric "jwk" key import requires a base64Url encoding of the key.'
        )
        if len(data) * 8 not in (128, 192, 256):
            fail(
                "DataError",
                f"Imported AES key length must be 128, 192, or 256 bits but provided {len(data) * 8}.",
            )
        alg = jwk.get("alg")
        expected = f"A{len(data) * 8}{name[4:]}"
        if alg is not None and alg != expected:
            fail(
                "DataError",
                f'Symmetric "jwk" key contains invalid "alg" value "{alg}", expected "{expected}".',
            )
        use = jwk.get("use")
        if request.usages and use is not None and use != "enc":
            fail("DataError", f'Symmetric "jwk" key must have a "use" of "enc", not "{use}".')
        ops = jwk.get("key_ops")
        if ops is not None:
            seen: set[str] = set()
            for op in sorted(ops):
                if op in seen:
                    fail("DataError", f'Symmetric "jwk" key contains duplicate value "{op}", in "key_op".')
                seen.add(op)
            for usage in request.usages:
                if usage not in seen:
                    fail("DataError", f'"jwk" key missing usage "{usage}", in "key_ops".')
    else:
        fail("NotSupportedError", f'Unrecognized key import format "{request.format}".')
    return Key("secret", {"name": name, "length": len(data) * 8}, usages, request.extractable, data)


def generate_aes(name: str) -> Callable[[dict[str, Any], bool, list[str]], tuple[Any, Parts]]:
    def generate(algorithm: dict[str, Any], extractable: bool, usages: list[str]) -> tuple[Any, Parts]:
        granted = validate_usages(name, "generate", usages, aes_allowed(name))
        length = int(required(algorithm, "length"))
        if length not in (128, 192, 256):
            fail(
                "OperationError",
                f"Generated AES key length must be 128, 192, or 256 bits but requested {length}.",
            )
        return single_reply(
            Key("secret", {"name": name, "length": length}, granted, extractable, os.urandom(length // 8))
        )

    return generate


def export_aes(key: Key, fmt: str) -> tuple[Any, Parts]:
    if fmt not in ("raw", "jwk"):
        fail("NotSupportedError", f'{key.name} key only supports exporting "raw" & "jwk", not "{fmt}".')
    if fmt == "raw":
        return None, [key.material]
    jwk = {
        "kty": "oct",
        "k": b64url_encode(key.material),
        "alg": f"A{len(key.material) * 8}{key.name[4:]}",
        "key_ops": ordered_usages(key.usages),
        "ext": True,
    }
    return {"jwk": jwk_in_order(jwk)}, []


AES_GCM_TAG_BITS = (32, 64, 96, 104, 112, 120, 128)


def aes_cipher(key: Key, algorithm: dict[str, Any], parts: Parts, data: bytes, encrypting: bool) -> bytes:
    name = key.name
    if name == "AES-GCM":
        iv = parts[required(algorithm, "iv")]
        if not iv:
            fail("OperationError", "AES-GCM IV must not be empty.")
        aad_index = algorithm.get("additionalData")
        aad = parts[aad_index] if aad_index is not None else b""
        tag_bits = algorithm.get("tagLength")
        tag_bits = 128 if tag_bits is None else int(tag_bits)
        if tag_bits not in AES_GCM_TAG_BITS:
            fail("OperationError", f"Invalid AES-GCM tag length {tag_bits}.")
        tag_bytes = tag_bits // 8
        if encrypting:
            sealed = AESGCM(key.material).encrypt(iv, data, aad or None)
            return sealed[: len(data)] + sealed[len(data) : len(data) + tag_bytes]
        if len(data) < tag_bytes:
            fail(
                "OperationError",
                f"Ciphertext length of {len(data) * 8} bits must be greater than or equal to the "
                f"size of the AES-GCM tag length of {tag_bits} bits.",
            )
        body, tag = data[: len(data) - tag_bytes], data[len(data) - tag_bytes :]
        opener = Cipher(algorithms.AES(key.material), modes.GCM(iv, tag, min_tag_length=4)).decryptor()
        if aad:
            opener.authenticate_additional_data(aad)
        plain = opener.update(body)
        try:
            return plain + opener.finalize()
        except InvalidTag:
            fail("OperationError", decryption_failed(len(body), len(plain), name))
    if name == "AES-CBC":
        iv = parts[required(algorithm, "iv")]
        if len(iv) != 16:
            ending = " bytes)." if encrypting else ")."
            fail("OperationError", f"AES-CBC IV must be 16 bytes long (provided {len(iv)}{ending}")
        cipher = Cipher(algorithms.AES(key.material), modes.CBC(iv))
        if encrypting:
            padder = PKCS7(128).padder()
            encryptor = cipher.encryptor()
            return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()
        if len(data) % 16:
            fail("OperationError", decryption_failed(len(data), len(data) // 16 * 16, name))
        decryptor = cipher.decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            fail("OperationError", decryption_failed(len(data), max(len(data) - 16, 0), name))
    assert name == "AES-CTR", name  # AES-KW keys never hold encrypt/decrypt usages
    return aes_ctr(key, algorithm, parts, data)


def decryption_failed(input_length: int, output_length: int, name: str) -> str:
    return (
        "Decryption failed. This could be due to a ciphertext authentication failure, bad padding, incorrect "
        f"CryptoKey, or another algorithm-specific reason. Input length was {input_length}, output length "
        f"expected to be {output_length} for {name}"
    )


def aes_ctr(key: Key, algorithm: dict[str, Any], parts: Parts, data: bytes) -> bytes:
    counter_index = algorithm.get("counter")
    if counter_index is None:
        fail("TypeError", 'Missing "counter" member in "algorithm".')
    counter = parts[counter_index]
    if len(counter) != 16:
        fail("OperationError", f"Counter must have length of 16 bytes (provided {len(counter)}).")
    bits = algorithm.get("length")
    if bits is None:
        fail("TypeError", 'Missing "length" member in "algorithm".')
    bits = int(bits)
    if not 0 < bits <= 128:
        fail("OperationError", f"Invalid counter of {bits} bits length provided.")
    block = int.from_bytes(counter, "big")
    mask = (1 << bits) - 1
    values = 1 << bits
    blocks = (len(data) + 15) // 16
    if blocks > values:
        fail("OperationError", "Counter block values will repeat.")
    until_wrap = values - (block & mask)
    if until_wrap >= blocks:
        return _ctr(key.material, counter, data)
    # The counter bits wrap to zero; the bits above them stay as they were.
    split = until_wrap * 16
    wrapped = (block & ~mask).to_bytes(16, "big")
    return _ctr(key.material, counter, data[:split]) + _ctr(key.material, wrapped, data[split:])


def _ctr(material: bytes, counter: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(material), modes.CTR(counter)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def aes_kw(key: Key, data: bytes, wrapping: bool) -> bytes:
    if wrapping:
        if len(data) % 8:
            fail(
                "OperationError",
                "Unwrapped key bit length must be a multiple of 64 bits but unwrapped key has a "
                f"length of {len(data) * 8} bits.",
            )
        if len(data) < 16:
            fail(
                "OperationError",
                f"Unwrapped key has length {len(data)} bytes but it should be greater than or "
                f"equal to 16 and less than or equal to {2**64 - 1 - 8}",
            )
        return keywrap.aes_key_wrap(key.material, data)
    if len(data) % 8:
        fail(
            "OperationError",
            f"Provided a wrapped key to unwrap that is {len(data) * 8} bits which isn't a "
            "multiple of 64 bits.",
        )
    if len(data) < 24:
        fail(
            "OperationError",
            f"Provided a wrapped key to unwrap this is {len(data) * 8} bits that is less than "
            "the minimal length of 192 bits.",
        )
    try:
        return keywrap.aes_key_unwrap(key.material, data)
    except keywrap.InvalidUnwrap:
        fail("OperationError", "AES-KW key unwrapping failed.")


# ---------------------------------------------------------------------------------------------------------
# RSA (rsa.c++): RSASSA-PKCS1-v1_5, RSA-PSS, RSA-OAEP

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
            "The modulus length must be a multiple of 8 and between 256 and 16k, but "
            f"{modulus_bits} was requested.",
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
                    f'Unrecognized or unimplemented algorithm "{alg}" listed in JSON Web Key '
                    "Algorithm parameter.",
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
    numbers = (
        key.public_key().public_numbers() if isinstance(key, rsa.RSAPrivateKey) else key.public_numbers()
    )
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
        granted = validate_usages(
            name, "generate", usages, RSA_OAEP_USAGES if name == "RSA-OAEP" else SIGN_VERIFY
        )
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
        fail(
            "InvalidAccessError", f'Decryption/key unwrapping only works with private keys, not "{key.type}".'
        )
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


# ---------------------------------------------------------------------------------------------------------
# Elliptic curves (ec.c++): ECDSA and ECDH on P-256, P-384, P-521


@dataclass(frozen=True)
class Curve:
    name: str
    curve: type[ec.EllipticCurve]
    size: int  # bytes of r and s, and of each JWK coordinate


CURVES = {
    curve.name.upper(): curve
    for curve in (
        Curve("P-256", ec.SECP256R1, 32),
        Curve("P-384", ec.SECP384R1, 48),
        Curve("P-521", ec.SECP521R1, 66),
    )
}
JWK_ECDSA_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def lookup_curve(name: str) -> Curve:
    found = CURVES.get(name.upper())
    if found is None:
        fail("NotSupportedError", f'Unrecognized or unimplemented EC curve "{name}" requested.')
    return found


def import_ec(request: ImportRequest) -> Key:
    name = request.name
    curve_name = str(required(request.algorithm, "namedCurve"))
    curve = lookup_curve(curve_name)
    if request.format == "raw":
        assert request.data is not None
        allowed = frozenset({"verify"}) if name == "ECDSA" else frozenset()
        usages = validate_usages(name, "import public", request.usages, allowed)
        key: PrivateKey | PublicKey = ec_from_raw(curve, request.data)
        kind = "public"
    else:
        key, kind, usages = import_asymmetric(
            request, SIGN_VERIFY if name == "ECDSA" else DERIVE, lambda jwk: ec_from_jwk(name, curve, jwk)
        )
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        fail(
            "DataError",
            "Input was not an EC key." if name == "ECDSA" else "Input was not an EC public key nor a DH key.",
        )
    if not isinstance(key.curve, curve.curve):
        comma = "" if name == "ECDSA" else ","
        fail(
            "DataError",
            f'"algorithm.namedCurve" "{curve_name}"{comma} does not match the curve specified by the '
            "input key data.",
        )
    return asymmetric_key(kind, key, {"name": name, "namedCurve": curve.name}, usages, request.extractable)


def ec_from_raw(curve: Curve, data: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve.curve(), data)
    except ValueError:
        well_formed = (len(data) == 1 + 2 * curve.size and data[:1] == b"\x04") or (
            len(data) == 1 + curve.size and data[:1] in (b"\x02", b"\x03")
        )
        reason = "Point is not on curve" if well_formed else "Invalid point encoding"
        fail("DataError", f"Failed to import raw EC key data: {reason}.")


def ec_from_jwk(name: str, curve: Curve, jwk: dict[str, Any]) -> PrivateKey | PublicKey:
    if jwk.get("kty") != "EC":
        fail(
            "DataError",
            'Elliptic curve "jwk" key import requires a JSON Web Key with Key Type parameter "kty" '
            f'("{jwk.get("kty")}") equal to "EC".',
        )
    alg = jwk.get("alg")
    if name == "ECDSA" and alg is not None:
        alg_curve = JWK_ECDSA_CURVES.get(alg)
        if alg_curve is None:
            fail(
                "NotSupportedError",
                f'Unrecognized or unimplemented algorithm "{alg}" listed in JSON Web Key '
                "Algorithm parameter.",
            )
        if alg_curve != curve.name:
            fail(
                "DataError",
                f'JSON Web Key Algorithm parameter "alg" ("{alg}") does not match requested curve.',
            )
    x = int.from_bytes(b64url_decode(jwk.get("x"), 'Invalid EC key in JSON Web Key; missing "x".'), "big")
    y = int.from_bytes(b64url_decode(jwk.get("y"), 'Invalid EC key in JSON Web Key; missing "y".'), "big")
    public = ec.EllipticCurvePublicNumbers(x, y, curve.curve())
    if jwk.get("d") is None:
        try:
            return public.public_key()
        except ValueError:
            fail(
                "OperationError",
                'Invalid EC key; public key coordinates "x" and "y" are invalid: Point is not on curve.',
            )
    d = int.from_bytes(
        b64url_decode(
            jwk.get("d"), 'Invalid EC key in JSON Web Key; missing or invalid private key component ("d").'
        ),
        "big",
    )
    try:
        public.public_key()
    except ValueError:
        fail(
            "OperationError",
            'Invalid EC key; public key coordinates "x" and "y" are invalid: Point is not on curve.',
        )
    try:
        return ec.EllipticCurvePrivateNumbers(d, public).private_key()
    except ValueError:
        fail("DataError", "Invalid EC key in JSON Web Key.")


def generate_ec(name: str) -> Callable[[dict[str, Any], bool, list[str]], tuple[Any, Parts]]:
    def generate(algorithm: dict[str, Any], extractable: bool, usages: list[str]) -> tuple[Any, Parts]:
        granted = validate_usages(name, "generate", usages, SIGN_VERIFY if name == "ECDSA" else DERIVE)
        curve = lookup_curve(str(required(algorithm, "namedCurve")))
        private = ec.generate_private_key(curve.curve())
        public_usages = granted & PUBLIC_USAGES if name == "ECDSA" else frozenset()
        public = asymmetric_key(
            "public", private.public_key(), {"name": name, "namedCurve": curve.name}, public_usages, True
        )
        secret = asymmetric_key(
            "private",
            private,
            {"name": name, "namedCurve": curve.name},
            granted & PRIVATE_USAGES,
            extractable,
        )
        return pair_reply(public, secret)

    return generate


def ecdsa_hash(algorithm: dict[str, Any]) -> Digest:
    hash_name = algorithm.get("hash")
    if hash_name is None:
        fail(
            "TypeError",
            'Missing "hash" in AlgorithmIdentifier. (ECDSA requires that the hash algorithm be '
            "specified at call time rather than on the key. This differs from other WebCrypto "
            "algorithms for historical reasons.)",
        )
    return lookup_digest(str(hash_name))


def ecdsa_sign(key: Key, algorithm: dict[str, Any], data: bytes) -> bytes:
    if key.type != "private":
        fail("InvalidAccessError", "Asymmetric signing requires a private key.")
    found = ecdsa_hash(algorithm)
    private = key.private()
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    # WebCrypto wants IEEE P1363 (r || s, each padded to the curve size), not OpenSSL's DER.
    r, s = decode_dss_signature(private.sign(data, ec.ECDSA(found.algorithm())))
    size = lookup_curve(key.algorithm["namedCurve"]).size
    return int_bytes(r, size) + int_bytes(s, size)


def ecdsa_verify(key: Key, algorithm: dict[str, Any], signature: bytes, data: bytes) -> bool:
    if key.type != "public":
        fail("InvalidAccessError", "Asymmetric verification requires a public key.")
    found = ecdsa_hash(algorithm)
    size = lookup_curve(key.algorithm["namedCurve"]).size
    if len(signature) != 2 * size:
        return False  # ec.c++: a signature of the wrong size is judged invalid, not an error
    der = encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )
    public = key.public()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    try:
        public.verify(der, data, ec.ECDSA(found.algorithm()))
    except InvalidSignature:
        return False
    return True


def ec_jwk(key: Key) -> dict[str, Any]:
    size = lookup_curve(key.algorithm["namedCurve"]).size
    if key.type == "private":
        private = key.private()
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        numbers = private.private_numbers()
        public, d = numbers.public_numbers, numbers.private_value
    else:
        public_key = key.public()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        public, d = public_key.public_numbers(), None
    jwk = {
        "kty": "EC",
        "crv": key.algorithm["namedCurve"],
        "x": b64url_encode(int_bytes(public.x, size)),
        "y": b64url_encode(int_bytes(public.y, size)),
    }
    if d is not None:
        jwk["d"] = b64url_encode(int_bytes(d, size))
    return jwk


def ec_raw(key: Key) -> bytes:
    if key.type != "public":
        fail("InvalidAccessError", "Raw export of elliptic curve keys is only allowed for public keys.")
    public = key.public()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


# ---------------------------------------------------------------------------------------------------------
# Ed25519 and X25519 (ec.c++ EdDsaKey)

OKP_TYPES: dict[str, tuple[type[Any], type[Any]]] = {
    "Ed25519": (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey),
    "X25519": (x25519.X25519PrivateKey, x25519.X25519PublicKey),
}


def okp_curve(name: str) -> str:
    return "X25519" if name == "X25519" else "Ed25519"


def okp_algorithm(name: str) -> dict[str, Any]:
    # The legacy NODE-ED25519 name carries a namedCurve; the Secure Curves names do not.
    return {"name": name, "namedCurve": name} if name == "NODE-ED25519" else {"name": name}


def check_node_curve(name: str, algorithm: dict[str, Any]) -> None:
    if name == "NODE-ED25519":
        curve = str(required(algorithm, "namedCurve"))
        if curve != "NODE-ED25519":
            fail("NotSupportedError", f'EDDSA curve "{curve}" isn\'t supported.')


def import_okp(request: ImportRequest) -> Key:
    name = request.name
    check_node_curve(name, request.algorithm)
    curve = okp_curve(name)
    private_type, public_type = OKP_TYPES[curve]
    allowed = DERIVE if curve == "X25519" else SIGN_VERIFY
    if request.format == "raw":
        assert request.data is not None
        usages = validate_usages(
            name, "import public", request.usages, frozenset() if curve == "X25519" else frozenset({"verify"})
        )
        if len(request.data) != 32:
            fail("DataError", f"{curve} raw keys must be exactly 32-bytes (provided {len(request.data)}).")
        key: Any = public_type.from_public_bytes(request.data)
        kind = "public"
    else:
        key, kind, usages = import_asymmetric(request, allowed, lambda jwk: okp_from_jwk(curve, jwk))
    if not isinstance(key, (private_type, public_type)):
        # workerd accepts any SPKI/PKCS #8 key here and fails later; refusing at import is kinder.
        fail("DataError", f"Input was not an {curve} key.")
    return asymmetric_key(kind, key, okp_algorithm(name), usages, request.extractable)


def okp_from_jwk(curve: str, jwk: dict[str, Any]) -> PrivateKey | PublicKey:
    private_type, public_type = OKP_TYPES[curve]
    if jwk.get("kty") != "OKP":
        fail(
            "DataError",
            f'{curve} "jwk" key imports requires a JSON Web Key with Key Type parameter "kty" '
            f'("{jwk.get("kty")}") equal to "OKP".',
        )
    crv = jwk.get("crv")
    if crv is None:
        fail("DataError", f'Missing field "crv" for {curve} key.')
    if crv != curve:
        fail("NotSupportedError", f'Only {curve} is supported but "{crv}" was requested.')
    alg = jwk.get("alg")
    if curve == "Ed25519" and alg is not None and alg != "EdDSA":
        fail(
            "DataError",
            f'JSON Web Key Algorithm parameter "alg" ("{alg}") does not match requested Ed25519 curve.',
        )
    x = b64url_decode(
        jwk.get("x"), f'Invalid {crv} key in JSON WebKey; missing or invalid public key component ("x").'
    )
    if len(x) != 32:
        fail("DataError", f"Invalid length {len(x)} for public key")
    if jwk.get("d") is None:
        key: PublicKey = public_type.from_public_bytes(x)
        return key
    d = b64url_decode(
        jwk.get("d"), f'Invalid {curve} key in JSON Web Key; missing or invalid private key component ("d").'
    )
    if len(d) != 32:
        fail("DataError", f"Invalid length {len(d)} for private key")
    private: PrivateKey = private_type.from_private_bytes(d)
    return private


def generate_okp(name: str) -> Callable[[dict[str, Any], bool, list[str]], tuple[Any, Parts]]:
    def generate(algorithm: dict[str, Any], extractable: bool, usages: list[str]) -> tuple[Any, Parts]:
        curve = okp_curve(name)
        granted = validate_usages(name, "generate", usages, DERIVE if curve == "X25519" else SIGN_VERIFY)
        check_node_curve(name, algorithm)
        private = OKP_TYPES[curve][0].generate()
        public = asymmetric_key(
            "public", private.public_key(), okp_algorithm(name), granted & PUBLIC_USAGES, True
        )
        secret = asymmetric_key(
            "private", private, okp_algorithm(name), granted & PRIVATE_USAGES, extractable
        )
        return pair_reply(public, secret)

    return generate


def ed25519_sign(key: Key, algorithm: dict[str, Any], data: bytes) -> bytes:
    if key.type != "private":
        fail("InvalidAccessError", "Asymmetric signing requires a private key.")
    private = key.private()
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    return private.sign(data)


def ed25519_verify(key: Key, algorithm: dict[str, Any], signature: bytes, data: bytes) -> bool:
    if key.type != "public":
        fail("InvalidAccessError", "Asymmetric verification requires a public key.")
    if len(signature) != 64:
        fail("OperationError", f"Invalid {key.name} signature length {len(signature)}")
    public = key.public()
    assert isinstance(public, ed25519.Ed25519PublicKey)
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def okp_jwk(key: Key) -> dict[str, Any]:
    curve = okp_curve(key.name)
    raw = serialization.Encoding.Raw
    if key.type == "private":
        private = key.private()
        assert isinstance(private, (ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey))
        public = private.public_key()
        d = private.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    else:
        public, d = key.public(), None  # type: ignore[assignment]
    jwk: dict[str, Any] = {
        "kty": "OKP",
        "crv": curve,
        "x": b64url_encode(public.public_bytes(raw, serialization.PublicFormat.Raw)),
    }
    if key.name == "Ed25519":
        jwk["alg"] = "EdDSA"
    if d is not None:
        jwk["d"] = b64url_encode(d)
    return jwk


def okp_raw(key: Key) -> bytes:
    if key.type != "public":
        fail("InvalidAccessError", f"Raw export of {key.name} keys is only allowed for public keys.")
    public = key.public()
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# ---------------------------------------------------------------------------------------------------------
# Key derivation: ECDH, X25519 (ec.c++), HKDF (hkdf.c++), PBKDF2 (pbkdf2.c++)


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


def derive_bits(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    key = Key.from_meta(meta["key"], parts[0])
    return None, [derive(key, meta["algorithm"], parts, meta.get("length"))]


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


def derive_key(meta: dict[str, Any], parts: Parts) -> tuple[Any, Parts]:
    key = Key.from_meta(meta["key"], parts[0])
    derived = meta["derivedKeyAlgorithm"]
    secret = derive(key, meta["algorithm"], parts, derived_key_length(derived))
    return import_key(
        {"format": "raw", "algorithm": derived, "extractable": meta["extractable"], "usages": meta["usages"]},
        [secret],
    )


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
        assert isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(
            public, ec.EllipticCurvePublicKey
        )
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


# ---------------------------------------------------------------------------------------------------------
# The algorithm table (crypto.c++ lookupAlgorithm: names are case-insensitive)

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
        *(
            Algorithm(name, import_aes, generate_aes(name))
            for name in ("AES-CTR", "AES-CBC", "AES-GCM", "AES-KW")
        ),
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
    "HMAC": lambda key, algorithm, data: hmac_tag(key, data),
    "RSASSA-PKCS1-v1_5": rsa_sign,
    "RSA-PSS": rsa_sign,
    "ECDSA": ecdsa_sign,
    "Ed25519": ed25519_sign,
    "NODE-ED25519": ed25519_sign,
}


def _hmac_verify(key: Key, algorithm: dict[str, Any], signature: bytes, data: bytes) -> bool:
    return hmac.compare_digest(hmac_tag(key, data), signature)


VERIFIERS: dict[str, Callable[[Key, dict[str, Any], bytes, bytes], bool]] = {
    "HMAC": _hmac_verify,
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
