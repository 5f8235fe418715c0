"""The examples do what their comments say, against local stand-ins for the services they call."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from emulator import Emulator, Step
from emulator.config import parse_dotenv
from emulator.reflection import mask
from tests.support.upstream import LocalInternet, echoed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
async def internet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalInternet]:
    async with LocalInternet(tmp_path_factory.mktemp("internet")) as local:
        http = local.connect_to["upstream.test"]
        local.connect_to.update(
            {name: http for name in ("api.github.com", "my-internal-vcs.dev", "evil.example", "registry.example")}
        )
        yield local


def load(example: str, internet: LocalInternet) -> Emulator:
    return Emulator.load(
        EXAMPLES / example, in_memory=True, connect_to=internet.connect_to, upstream_ca=internet.ca_file, workers=1
    )


def header(seen: dict[str, Any], name: str) -> str | None:
    return next((value for key, value in seen["headers"] if key.lower() == name), None)


async def test_credential_injection(internet: LocalInternet) -> None:
    token = parse_dotenv((EXAMPLES / "credential-injection" / ".dev.vars").read_text())["GITHUB_TOKEN"]
    async with load("credential-injection", internet) as emu:
        sandbox = emu.sandbox("agent-1")
        for url in ("https://github.com/echo", "http://api.github.com/echo"):  # HTTPS is intercepted too
            response = await sandbox.fetch(url)
            assert response.status == 200
            # GitHub got the token; /echo reflects it back, and the sandbox reads it masked (reflection.py).
            assert header(internet.recorder.requests[-1], "authorization") == f"Bearer {token}"
            assert header(echoed(response.body), "authorization") == f"Bearer {mask(len(token)).decode()}"
        assert internet.recorder.requests[-1]["path"] == "/echo"
        blocked = await sandbox.fetch("http://evil.example/echo")
        assert (blocked.status, blocked.decision.step) == (520, Step.NOT_ALLOWLISTED)
        assert emu.warnings == []


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_per_container_credentials(internet: LocalInternet) -> None:
    secrets = parse_dotenv((EXAMPLES / "per-container-credentials" / ".dev.vars").read_text())
    key = serialization.load_pem_private_key(secrets["SIGNING_KEY"].encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    async with load("per-container-credentials", internet) as emu:
        subjects = []
        for name in ("agent-1", "agent-2"):
            sandbox = emu.sandbox(name)
            response = await sandbox.fetch("http://my-internal-vcs.dev/echo")
            assert response.status == 200
            token = header(echoed(response.body), "x-auth-token")
            assert token is not None
            head, claims, signature = token.split(".")
            raw = _b64url(signature)
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            key.public_key().verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
            payload = json.loads(_b64url(claims))
            assert payload["sub"] == await sandbox.container_id()
            assert payload["aud"] == "my-internal-vcs.dev"
            assert payload["exp"] - payload["iat"] == 300
            subjects.append(payload["sub"])
        assert subjects[0] != subjects[1]


async def test_lockdown(internet: LocalInternet) -> None:
    async with load("lockdown", internet) as emu:
        sandbox = emu.sandbox("agent-1")
        await sandbox.set_outbound_handler("allowHosts", {"allowedHostnames": ["github.com", "registry.example"]})
        assert (await sandbox.fetch("https://github.com/echo")).status == 200
        assert (await sandbox.fetch("http://registry.example/echo")).status == 200
        denied = await sandbox.fetch("http://evil.example/echo")
        assert (denied.status, denied.reason, denied.body) == (403, "Forbidden", b"")
        await sandbox.set_outbound_handler("noHttp")
        locked = await sandbox.fetch("https://github.com/echo")
        assert (locked.status, locked.decision.step) == (403, Step.RUNTIME_CATCH_ALL)


async def test_get_only_logging(internet: LocalInternet) -> None:
    async with load("get-only-logging", internet) as emu:
        sandbox = emu.sandbox("agent-1")
        assert (await sandbox.fetch("http://upstream.test/echo")).status == 200
        refused = await sandbox.fetch("http://upstream.test/echo", method="POST", body="data")
        assert (refused.status, refused.reason, refused.text()) == (405, "Method Not Allowed", "Not Allowed")
        assert [entry.message for entry in refused.console] == [
            "Container making POST request to: http://upstream.test/echo"
        ]
        assert internet.recorder.requests[-1]["method"] == "GET"  # the POST never left


async def test_virtual_hosts_from_kv_and_r2(tmp_path: Path) -> None:
    from emulator import SandboxConnectionError

    async with Emulator.load(EXAMPLES / "virtual-hosts", persist_to=tmp_path, workers=1) as emu:
        assert emu.bindings is not None
        await emu.bindings["KV"].put("motd", b"hello from KV")
        agent = emu.sandbox("agent-1")
        motd = await agent.fetch("http://my.kv/motd")
        assert (motd.status, motd.body, motd.header("content-length")) == (200, b"hello from KV", "13")
        assert (await agent.fetch("http://my.kv/nothing")).status == 404
        assert (await agent.fetch("http://my.kv/written", method="PUT", body=b"via PUT")).status == 204
        assert (await emu.bindings["KV"].get("written")).value == b"via PUT"

        data = bytes(range(256)) * 16
        stored = await agent.fetch(
            "http://objects.cf/reports/q1.bin",
            method="PUT",
            body=data,
            headers={"content-type": "application/x-report"},
        )
        assert stored.json() == {"key": "reports/q1.bin", "size": 4096, "etag": stored.json()["etag"]}
        whole = await agent.fetch("http://objects.cf/reports/q1.bin")
        assert (whole.status, whole.body, whole.header("content-type")) == (200, data, "application/x-report")
        assert whole.header("content-length") == "4096"
        part = await agent.fetch("http://objects.cf/reports/q1.bin", headers={"range": "bytes=10-19"})
        assert (part.status, part.body, part.header("content-range")) == (206, data[10:20], "bytes 10-19/4096")

        # R2 keys are scoped by container id: another sandbox does not see agent-1's object.
        assert (await emu.sandbox("agent-2").fetch("http://objects.cf/reports/q1.bin")).status == 404
        listed = await emu.bindings["R2"].list()
        assert [o.key for o in listed.objects] == [f"{await agent.container_id()}/reports/q1.bin"]
        with pytest.raises(SandboxConnectionError):
            await agent.fetch("http://example.com/")  # enableInternet = false, and nothing intercepts it
