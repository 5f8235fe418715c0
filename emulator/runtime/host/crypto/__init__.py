"""crypto.subtle for the JS runtime: every operation done with `cryptography` (see js/crypto.js).

js/crypto.js checks a call's arguments as WebIDL would (types, algorithm objects, a key's usages), then
sends one operation here through ``host.crypto``. This package does what workerd's
``src/workerd/api/crypto/*.c++`` does for that operation, in the same order and with the same DOMException
names and messages, so a handler sees Workers' errors verbatim.

Key material never lives here: a CryptoKey keeps it in JS (raw bytes for secret keys, PKCS #8 DER for
private keys, SPKI DER for public keys) and sends it with each operation. Parsed keys are cached
(``keys.py``), so minting one JWT per request costs one parse, not one per request. Nothing here is a
handle JS must release.

``run`` is the one entry point (``worker.py`` calls it for each ``host.crypto`` call); behind it:

    wire.py         the request and reply framing, and ``fail``: every check's way to an error reply
    operations.py   the twelve operations (importKey, sign, deriveKey, ...) and the tables routing them
    keys.py         a CryptoKey as it travels, the usages it may hold, the parsed-key cache
    jwk.py          JSON Web Key encoding: base64url members, big-endian integers, member order
    asymmetric.py   spki / pkcs8 / jwk import and export shared by RSA, EC and the 25519 curves
    digest.py       digest algorithms and crypto.subtle.digest
    hmac.py, aes.py, rsa.py, ec.py, okp.py
                    one algorithm family each: its keys, and its signatures or ciphers
    derive.py       deriveBits: ECDH and X25519 agreement, HKDF, PBKDF2
"""

from __future__ import annotations

from emulator.runtime.host.crypto.keys import _load_private as _load_private  # tests read its cache_info()
from emulator.runtime.host.crypto.operations import OPERATIONS
from emulator.runtime.host.crypto.wire import WebCryptoError, error_reply, fail, ok_reply, read_request

__all__ = ["run"]


async def run(payload: bytes) -> bytes:
    """One WebCrypto operation: ``payload`` and the result are framed as ``wire`` describes."""
    try:
        meta, parts = read_request(payload)
        operation = OPERATIONS.get(meta.get("op"))
        if operation is None:
            fail("NotSupportedError", f"Unknown crypto operation {meta.get('op')!r}.")
        result, out = operation(meta, parts)
        return ok_reply(result, out)
    except WebCryptoError as error:
        return error_reply(error.name, error.message)
    except Exception as error:  # noqa: BLE001 - a bug here must reach the handler as a rejection, not kill it
        message = f"Internal error in crypto.subtle ({type(error).__name__}: {error})."
        return error_reply("OperationError", message)
