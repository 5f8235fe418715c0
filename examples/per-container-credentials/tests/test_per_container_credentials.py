"""Each sandbox gets its own short-lived ES256 token for the internal VCS, minted by the handler with
WebCrypto from a key the sandbox never sees; the VCS knows from the `sub` claim which sandbox is calling.

Run with `pytest` in this folder.
"""

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from emulator import Emulator, Step
from emulator.pytest_plugin import UpstreamStub

VCS = "http://my-internal-vcs.dev/org/repo.git/info/refs"


def verified_claims(token: str, signing_key_pem: str) -> dict[str, Any]:
    """The claims of an ES256 JWT, after checking its signature as the VCS would."""
    key = serialization.load_pem_private_key(signing_key_pem.encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    head, claims, signature = token.split(".")
    raw = _b64url(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.public_key().verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    assert json.loads(_b64url(head)) == {"alg": "ES256", "typ": "JWT"}
    result: dict[str, Any] = json.loads(_b64url(claims))
    return result


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_each_sandbox_calls_the_vcs_as_itself(outbound: Emulator, upstream: UpstreamStub) -> None:
    signing_key = outbound.config.secrets["SIGNING_KEY"]
    for name in ("agent-1", "agent-2"):
        sandbox = outbound.sandbox(name)
        response = await sandbox.fetch(VCS)
        assert response.status == 200

        token = upstream.last.headers["x-auth-token"]
        claims = verified_claims(token, signing_key)
        assert claims["sub"] == await sandbox.container_id()
        assert claims["aud"] == "my-internal-vcs.dev"
        assert claims["exp"] - claims["iat"] == 300
        assert token.encode() not in response.body  # the sandbox never holds its token
    first, second = (verified_claims(r.headers["x-auth-token"], signing_key) for r in upstream.requests)
    assert first["sub"] != second["sub"]


async def test_nothing_but_the_vcs_is_reachable(outbound: Emulator, upstream: UpstreamStub) -> None:
    response = await outbound.sandbox("agent-1").fetch("https://github.com/")

    assert (response.status, response.decision.step) == (520, Step.NOT_ALLOWLISTED)
    assert upstream.requests == []
