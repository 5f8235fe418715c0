"""http://my.kv/<key> and http://objects.cf/<path> are served from KV and R2 by the handler; nothing else
leaves the sandbox.

Run with `pytest` in this folder.
"""

import pytest
import pytest_asyncio

from bindings import FakeClock
from emulator import Emulator, Sandbox, SandboxConnectionError
from emulator.pytest_plugin import UpstreamStub


@pytest_asyncio.fixture
async def agent(outbound: Emulator) -> Sandbox:
    assert outbound.bindings is not None
    await outbound.bindings["KV"].put("motd", b"hello from KV")
    return outbound.sandbox("agent-1")


async def test_kv_keys_are_urls(agent: Sandbox, outbound: Emulator) -> None:
    motd = await agent.fetch("http://my.kv/motd")
    assert (motd.status, motd.body) == (200, b"hello from KV")
    assert (await agent.fetch("http://my.kv/nothing")).status == 404

    assert (await agent.fetch("http://my.kv/notes/today", method="PUT", body=b"written")).status == 204
    assert outbound.bindings is not None
    assert (await outbound.bindings["KV"].get("notes/today")).value == b"written"


async def test_an_expired_kv_key_is_gone(agent: Sandbox, outbound: Emulator, clock: FakeClock) -> None:
    assert outbound.bindings is not None
    await outbound.bindings["KV"].put("session", b"token", expiration_ttl=60)
    assert (await agent.fetch("http://my.kv/session")).status == 200

    clock.advance(61)

    assert (await agent.fetch("http://my.kv/session")).status == 404


async def test_r2_objects_round_trip_with_ranges(agent: Sandbox) -> None:
    data = bytes(range(256)) * 16
    stored = await agent.fetch(
        "http://objects.cf/reports/q1.bin", method="PUT", body=data, headers={"content-type": "application/x-report"}
    )
    assert (stored.json()["key"], stored.json()["size"]) == ("reports/q1.bin", 4096)

    whole = await agent.fetch("http://objects.cf/reports/q1.bin")
    assert (whole.status, whole.body, whole.header("content-type")) == (200, data, "application/x-report")
    part = await agent.fetch("http://objects.cf/reports/q1.bin", headers={"range": "bytes=10-19"})
    assert (part.status, part.body, part.header("content-range")) == (206, data[10:20], "bytes 10-19/4096")


async def test_a_sandbox_sees_only_its_own_objects(agent: Sandbox, outbound: Emulator) -> None:
    assert (await agent.fetch("http://objects.cf/private.txt", method="PUT", body=b"mine")).status == 200

    assert (await outbound.sandbox("agent-2").fetch("http://objects.cf/private.txt")).status == 404


async def test_every_other_host_is_unreachable(agent: Sandbox, upstream: UpstreamStub) -> None:
    with pytest.raises(SandboxConnectionError):
        await agent.fetch("https://example.com/")
    assert upstream.requests == []
