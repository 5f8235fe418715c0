"""crypto.subtle's Python half: JWTs minted by a real handler in the real runtime verify with `cryptography`,
and the host operation itself (framing, errors as replies, the parsed-key cache, the checks JS cannot reach)
behaves as js/crypto.js expects. The Web Crypto API as a handler sees it is tested in
tests/webapi/crypto.test.js."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from emulator.runtime.bridge import pack_meta, unpack_meta
from emulator.runtime.bundle import build_handler, build_runtime
from emulator.runtime.host import crypto as host_crypto
from emulator.runtime.pool import EnginePool, Limits

# What an outbound handler does to call an API that wants a signed JWT (GitHub Apps, Google service
# accounts, ...): import a PKCS #8 PEM, sign header.payload, base64url everything.
HANDLER = """
const b64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const pemToDer = (pem: string): Uint8Array =>
  Uint8Array.from(atob(pem.replace(/-----[^-]+-----|\\s/g, "")), (c) => c.charCodeAt(0));

const IMPORT = {
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  HS256: { name: "HMAC", hash: "SHA-256" },
};
const SIGN = { RS256: "RSASSA-PKCS1-v1_5", ES256: { name: "ECDSA", hash: "SHA-256" }, HS256: "HMAC" };

export const jwt = {
  async mint(alg: keyof typeof IMPORT, secret: string, claims: object, count = 1): Promise<string[]> {
    const [format, data] = alg === "HS256" ? ["raw", text(secret)] : ["pkcs8", pemToDer(secret)];
    const key = await crypto.subtle.importKey(format, data, IMPORT[alg], false, ["sign"]);
    const tokens: string[] = [];
    for (let i = 0; i < count; i++) {
      const head = b64url(text(JSON.stringify({ alg, typ: "JWT" })));
      const input = `${head}.${b64url(text(JSON.stringify({ ...claims, i })))}`;
      const signature = new Uint8Array(await crypto.subtle.sign(SIGN[alg], key, text(input)));
      tokens.push(`${input}.${b64url(signature)}`);
    }
    return tokens;
  },
};
"""


@pytest.fixture(scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EnginePool]:
    out = tmp_path_factory.mktemp("crypto")
    (out / "handler.ts").write_text(HANDLER)
    runtime = await build_runtime(out)
    bundle = await build_handler(out / "handler.ts", out, out)
    async with EnginePool(
        runtime_path=runtime, bundle_path=bundle.path, env={}, size=1, limits=Limits(cpu_ms=10_000)
    ) as started:
        yield started


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def mint(pool: EnginePool, alg: str, secret: str, count: int = 1) -> list[str]:
    tokens = await pool.call("callExport", {"name": "jwt", "key": "mint", "args": [alg, secret, {"iss": "123"}, count]})
    assert isinstance(tokens, list) and len(tokens) == count
    return [str(token) for token in tokens]


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    head, body, signature = token.split(".")
    return (
        json.loads(b64url_decode(head)),
        json.loads(b64url_decode(body)),
        f"{head}.{body}".encode(),
        b64url_decode(signature),
    )


async def test_an_rs256_jwt_minted_by_a_handler_verifies_with_cryptography(pool: EnginePool) -> None:
    key = rsa.generate_private_key(65537, 2048)
    [token] = await mint(pool, "RS256", pem(key))
    header, claims, signed, signature = split(token)
    assert header == {"alg": "RS256", "typ": "JWT"}
    assert claims == {"iss": "123", "i": 0}
    key.public_key().verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())


async def test_an_es256_jwt_carries_a_p1363_signature_that_verifies_with_cryptography(
    pool: EnginePool,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    [token] = await mint(pool, "ES256", pem(key))
    header, _, signed, signature = split(token)
    assert header["alg"] == "ES256"
    assert len(signature) == 64  # r || s, not DER
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key.public_key().verify(der, signed, ec.ECDSA(hashes.SHA256()))


async def test_an_hs256_jwt_matches_cryptography_s_hmac(pool: EnginePool) -> None:
    [token] = await mint(pool, "HS256", "shared secret")
    _, _, signed, signature = split(token)
    mac = hmac.HMAC(b"shared secret", hashes.SHA256())
    mac.update(signed)
    mac.verify(signature)


async def test_many_jwts_from_one_key_all_verify(pool: EnginePool) -> None:
    key = rsa.generate_private_key(65537, 2048)
    tokens = await mint(pool, "RS256", pem(key), count=20)
    for index, token in enumerate(tokens):
        _, claims, signed, signature = split(token)
        assert claims["i"] == index
        key.public_key().verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())


# ---------------------------------------------------------------------------------------------------------
# The host operation, called as js/crypto.js calls it


async def call(meta: dict[str, Any], *parts: bytes) -> tuple[dict[str, Any], list[bytes]]:
    reply, body = unpack_meta(
        await host_crypto.run(pack_meta({**meta, "parts": [len(p) for p in parts]}, b"".join(parts)))
    )
    out, offset = [], 0
    for length in reply.get("parts", []):
        out.append(body[offset : offset + length])
        offset += length
    return reply, out


async def test_a_digest_reply_carries_the_hash_as_its_part() -> None:
    reply, parts = await call({"op": "digest", "algorithm": "sha-1"}, b"abc")
    assert reply == {"ok": None, "parts": [20]}
    assert parts == [bytes.fromhex("a9993e364706816aba3e25717850c26c9cd0d89d")]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            pack_meta({"op": "digest", "algorithm": "SHA-3", "parts": [0]}),
            {
                "name": "NotSupportedError",
                "message": "Unrecognized or unimplemented digest algorithm requested.",
            },
        ),
        (
            pack_meta({"op": "frobnicate", "parts": []}),
            {"name": "NotSupportedError", "message": "Unknown crypto operation 'frobnicate'."},
        ),
        (
            pack_meta({"op": "sign", "parts": []}),
            {"name": "OperationError", "message": "Internal error in crypto.subtle (KeyError: 'key')."},
        ),
        (
            b"\x00\x00\x00\x00",
            {
                "name": "OperationError",
                "message": "Internal error in crypto.subtle "
                "(JSONDecodeError: Expecting value: line 1 column 1 (char 0)).",
            },
        ),
    ],
)
async def test_failures_come_back_as_error_replies_never_as_exceptions(payload: bytes, error: dict[str, str]) -> None:
    reply, _ = unpack_meta(await host_crypto.run(payload))
    assert reply == {"error": error}


async def test_a_private_key_is_parsed_once_however_often_it_signs() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    imported, [material] = await call(
        {
            "op": "importKey",
            "format": "pkcs8",
            "extractable": False,
            "usages": ["sign"],
            "algorithm": {"name": "ECDSA", "namedCurve": "P-256"},
        },
        der,
    )
    described = imported["ok"]["key"]
    before = host_crypto._load_private.cache_info()
    for _ in range(5):
        reply, [signature] = await call(
            {"op": "sign", "algorithm": {"name": "ECDSA", "hash": "SHA-256"}, "key": described},
            material,
            b"payload",
        )
        assert "ok" in reply and len(signature) == 64
    after = host_crypto._load_private.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 4)


async def test_imported_private_keys_travel_as_pkcs8_even_when_given_as_pkcs1() -> None:
    key = rsa.generate_private_key(65537, 1024)
    pkcs1 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    reply, [material] = await call(
        {
            "op": "importKey",
            "format": "pkcs8",
            "extractable": True,
            "usages": ["sign"],
            "algorithm": {"name": "RSASSA-PKCS1-v1_5", "hash": "SHA-256"},
        },
        pkcs1,
    )
    assert reply["ok"]["key"]["algorithm"] == {
        "name": "RSASSA-PKCS1-v1_5",
        "modulusLength": 1024,
        "publicExponent": [1, 0, 1],
        "hash": {"name": "SHA-256"},
    }
    assert material == key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


async def generated(
    algorithm: dict[str, Any], usages: list[str], *buffers: bytes
) -> dict[str, tuple[dict[str, Any], bytes]]:
    reply, parts = await call(
        {"op": "generateKey", "algorithm": algorithm, "extractable": True, "usages": usages}, *buffers
    )
    ok = reply["ok"]
    if "key" in ok:
        return {"key": (ok["key"], parts[0])}
    return {"public": (ok["publicKey"], parts[0]), "private": (ok["privateKey"], parts[1])}


async def error_of(
    op: str, key: tuple[dict[str, Any], bytes], algorithm: dict[str, Any], *data: bytes
) -> dict[str, str]:
    reply, _ = await call(
        {"op": op, "algorithm": algorithm, "key": key[0], "format": "raw", "length": 8}, key[1], *data
    )
    assert "error" in reply, reply
    return dict(reply["error"])


async def test_operations_js_never_sends_still_answer_with_workerd_s_defaults() -> None:
    # js/crypto.js checks usages first, so none of these reach Python from a handler; workerd keeps the same
    # defaults (impl.h CryptoKey::Impl) and so does crypto.py.
    aes = (await generated({"name": "AES-GCM", "length": 128}, ["encrypt"]))["key"]
    hmac_key = (await generated({"name": "HMAC", "hash": "SHA-256"}, ["sign"]))["key"]
    oaep = await generated(
        {"name": "RSA-OAEP", "hash": "SHA-1", "modulusLength": 1024, "publicExponent": 0},
        ["encrypt", "decrypt"],
        b"\x01\x00\x01",
    )
    rsassa = await generated(
        {"name": "RSASSA-PKCS1-v1_5", "hash": "SHA-256", "modulusLength": 1024, "publicExponent": 0},
        ["sign", "verify"],
        b"\x01\x00\x01",
    )
    ecdsa = await generated({"name": "ECDSA", "namedCurve": "P-256"}, ["sign", "verify"])
    ed = await generated({"name": "Ed25519"}, ["sign", "verify"])
    ecdh = await generated({"name": "ECDH", "namedCurve": "P-256"}, ["deriveBits"])
    kdf_reply, [kdf_material] = await call(
        {
            "op": "importKey",
            "format": "raw",
            "algorithm": {"name": "PBKDF2"},
            "extractable": False,
            "usages": ["deriveBits"],
        },
        b"pw",
    )
    pbkdf2 = (kdf_reply["ok"]["key"], kdf_material)
    cases = [
        (
            await error_of("sign", aes, {"name": "AES-GCM"}, b"m"),
            "NotSupportedError",
            'The sign operation is not implemented for "AES-GCM".',
        ),
        (
            await error_of("verify", aes, {"name": "AES-GCM"}, b"s", b"m"),
            "NotSupportedError",
            'The verify operation is not implemented for "AES-GCM".',
        ),
        (
            await error_of("encrypt", hmac_key, {"name": "HMAC"}, b"m"),
            "NotSupportedError",
            'The encrypt operation is not implemented for "HMAC".',
        ),
        (
            await error_of("deriveBits", hmac_key, {"name": "HMAC"}),
            "NotSupportedError",
            'The deriveKey and deriveBits operations are not implemented for "HMAC".',
        ),
        (
            await error_of("exportKey", pbkdf2, {"name": "PBKDF2"}),
            "NotSupportedError",
            'Unrecognized or unsupported export of "PBKDF2" requested.',
        ),
        (
            await error_of("sign", ecdsa["public"], {"name": "ECDSA", "hash": "SHA-256"}, b"m"),
            "InvalidAccessError",
            "Asymmetric signing requires a private key.",
        ),
        (
            await error_of("verify", ecdsa["private"], {"name": "ECDSA", "hash": "SHA-256"}, b"s", b"m"),
            "InvalidAccessError",
            "Asymmetric verification requires a public key.",
        ),
        (
            await error_of("sign", rsassa["public"], {"name": "RSASSA-PKCS1-v1_5"}, b"m"),
            "InvalidAccessError",
            "Asymmetric signing requires a private key.",
        ),
        (
            await error_of("verify", rsassa["private"], {"name": "RSASSA-PKCS1-v1_5"}, b"s", b"m"),
            "InvalidAccessError",
            "Asymmetric verification requires a public key.",
        ),
        (
            await error_of("sign", ed["public"], {"name": "Ed25519"}, b"m"),
            "InvalidAccessError",
            "Asymmetric signing requires a private key.",
        ),
        (
            await error_of("verify", ed["private"], {"name": "Ed25519"}, b"s", b"m"),
            "InvalidAccessError",
            "Asymmetric verification requires a public key.",
        ),
        (
            await error_of("encrypt", oaep["private"], {"name": "RSA-OAEP"}, b"m"),
            "InvalidAccessError",
            'Encryption/key wrapping only works with public keys, not "private".',
        ),
        (
            await error_of("decrypt", oaep["public"], {"name": "RSA-OAEP"}, b"m"),
            "InvalidAccessError",
            'Decryption/key unwrapping only works with private keys, not "public".',
        ),
        (
            await error_of("deriveBits", ecdh["public"], {"name": "ECDH"}),
            "InvalidAccessError",
            'The deriveBits operation is only valid for a private key, not "public".',
        ),
    ]
    for error, name, message in cases:
        assert error == {"name": name, "message": message}


def small_rsa_key() -> rsa.RSAPrivateKey:
    """A 512-bit key: Workers imports and uses these, `cryptography` only refuses to generate them."""
    rng = random.Random(512)

    def probably_prime(n: int) -> bool:
        if any(n % p == 0 for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29)):
            return False
        d, s = n - 1, 0
        while d % 2 == 0:
            d, s = d // 2, s + 1
        for _ in range(20):
            x = pow(rng.randrange(2, n - 1), d, n)
            if x in (1, n - 1):
                continue
            for _ in range(s - 1):
                x = pow(x, 2, n)
                if x == n - 1:
                    break
            else:
                return False
        return True

    def prime() -> int:
        while True:
            candidate = rng.getrandbits(256) | (3 << 254) | 1
            if (candidate - 1) % 65537 and probably_prime(candidate):
                return candidate

    p, q = prime(), prime()
    d = pow(65537, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(65537, p * q),
    )
    return numbers.private_key()


@pytest.mark.parametrize(
    ("name", "sign_with", "message"),
    [
        (
            "RSASSA-PKCS1-v1_5",
            {"name": "RSASSA-PKCS1-v1_5"},
            "key too small for signing with given digest, need at least 768bits.",
        ),
        ("RSA-PSS", {"name": "RSA-PSS", "saltLength": 0}, "key too small for signing with given digest"),
    ],
)
async def test_a_512_bit_key_is_too_small_for_sha_512(name: str, sign_with: dict[str, Any], message: str) -> None:
    der = small_rsa_key().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    reply, [material] = await call(
        {
            "op": "importKey",
            "format": "pkcs8",
            "extractable": False,
            "usages": ["sign"],
            "algorithm": {"name": name, "hash": "SHA-512"},
        },
        der,
    )
    assert reply["ok"]["key"]["algorithm"]["modulusLength"] == 512
    signed, _ = await call({"op": "sign", "algorithm": sign_with, "key": reply["ok"]["key"]}, material, b"m")
    assert signed == {"error": {"name": "OperationError", "message": message}}
