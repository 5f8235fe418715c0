"""What RSA, EC and the 25519 curves share: spki, pkcs8 and jwk import with the usages each allows (keys.c++
importAsymmetricForWebCrypto), export in those formats (AsymmetricKeyCryptoKeyImpl::exportKey), and the
reply of a generated key pair."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from emulator.runtime.host.crypto.jwk import jwk_in_order
from emulator.runtime.host.crypto.keys import (
    PRIVATE_USAGES,
    PUBLIC_USAGES,
    ImportRequest,
    Key,
    PrivateKey,
    PublicKey,
    asymmetric_key,
    ordered_usages,
    validate_usages,
)
from emulator.runtime.host.crypto.wire import Parts, fail


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
        private = parse_der(request.data, lambda d: serialization.load_der_private_key(d, password=None), "PKCS8")
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
