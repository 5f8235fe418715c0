"""Ed25519 and X25519 (ec.c++ EdDsaKey): import, generation and export of their keys (NODE-ED25519 is
Ed25519's legacy name), and Ed25519 signatures. X25519's key agreement is in derive.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from emulator.runtime.host.crypto.asymmetric import import_asymmetric, pair_reply
from emulator.runtime.host.crypto.jwk import b64url_decode, b64url_encode
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
    x = b64url_decode(jwk.get("x"), f'Invalid {crv} key in JSON WebKey; missing or invalid public key component ("x").')
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
        public = asymmetric_key("public", private.public_key(), okp_algorithm(name), granted & PUBLIC_USAGES, True)
        secret = asymmetric_key("private", private, okp_algorithm(name), granted & PRIVATE_USAGES, extractable)
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
