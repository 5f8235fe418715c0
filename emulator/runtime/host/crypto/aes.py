"""AES (aes.c++): import, generation and export of AES-CTR, AES-CBC, AES-GCM and AES-KW keys; encryption
and decryption with the first three, key wrapping with AES-KW."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.padding import PKCS7

from emulator.runtime.host.crypto.jwk import b64url_decode, b64url_encode, jwk_in_order
from emulator.runtime.host.crypto.keys import (
    ImportRequest,
    Key,
    ordered_usages,
    single_reply,
    validate_usages,
)
from emulator.runtime.host.crypto.wire import Parts, fail, required


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
        data = b64url_decode(jwk.get("k"), 'Symmetric "jwk" key import requires a base64Url encoding of the key.')
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
            f"Provided a wrapped key to unwrap that is {len(data) * 8} bits which isn't a multiple of 64 bits.",
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
