"""Elliptic curves (ec.c++): import, generation and export of ECDSA and ECDH keys on P-256, P-384 and
P-521, and ECDSA signatures. ECDH's key agreement is in derive.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from emulator.runtime.host.crypto.asymmetric import import_asymmetric, pair_reply
from emulator.runtime.host.crypto.digest import Digest, lookup_digest
from emulator.runtime.host.crypto.jwk import b64url_decode, b64url_encode, int_bytes
from emulator.runtime.host.crypto.keys import (
    DERIVE,
    PRIVATE_USAGES,
    PUBLIC_USAGES,
    SIGN_VERIFY,
    ImportRequest,
    Key,
    PrivateKey,
    PublicKey,
    asymmetric_key,
    validate_usages,
)
from emulator.runtime.host.crypto.wire import Parts, fail, required


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
            f'"algorithm.namedCurve" "{curve_name}"{comma} does not match the curve specified by the input key data.',
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
                f'Unrecognized or unimplemented algorithm "{alg}" listed in JSON Web Key Algorithm parameter.',
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
        b64url_decode(jwk.get("d"), 'Invalid EC key in JSON Web Key; missing or invalid private key component ("d").'),
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
    der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
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
