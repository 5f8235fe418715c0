"""Open the network for setup, then lock it down: the platform switches each sandbox's handler at runtime.

Run with `pytest` in this folder. (The Worker's own `fetch`, which runs `curl` in a sandbox, needs
`outbound dev`; these tests drive the same runtime methods from Python, as the platform's code would.)
"""

import pytest

from emulator import Emulator, OutboundHandlerNotFound, Step
from emulator.pytest_plugin import AuditView, UpstreamStub

SETUP_HOSTS = {"allowedHostnames": ["github.com", "registry.example"]}


async def test_setup_reaches_only_the_listed_hosts(outbound: Emulator, upstream: UpstreamStub) -> None:
    sandbox = outbound.sandbox("agent-1")
    await sandbox.set_outbound_handler("allowHosts", SETUP_HOSTS)

    assert (await sandbox.fetch("https://github.com/octocat/hello.git/info/refs")).status == 200
    assert (await sandbox.fetch("http://registry.example/left-pad")).status == 200
    denied = await sandbox.fetch("https://evil.example/")
    assert (denied.status, denied.reason, denied.body) == (403, "Forbidden", b"")
    assert [request.host for request in upstream.requests] == ["github.com", "registry.example"]


async def test_after_lockdown_nothing_leaves(outbound: Emulator, upstream: UpstreamStub, audit: AuditView) -> None:
    sandbox = outbound.sandbox("agent-1")
    await sandbox.set_outbound_handler("allowHosts", SETUP_HOSTS)
    await sandbox.set_outbound_handler("noHttp")

    locked = await sandbox.fetch("https://github.com/")

    assert (locked.status, locked.decision.step) == (403, Step.RUNTIME_CATCH_ALL)
    assert upstream.requests == []
    assert audit.one(host="github.com").handler == "outboundHandlers.noHttp"


async def test_each_sandbox_has_its_own_policy(outbound: Emulator, upstream: UpstreamStub) -> None:
    await outbound.sandbox("agent-1").set_outbound_handler("noHttp")
    open_one = outbound.sandbox("agent-2")
    await open_one.set_outbound_handler("allowHosts", SETUP_HOSTS)

    assert (await outbound.sandbox("agent-1").fetch("https://github.com/")).status == 403
    assert (await open_one.fetch("https://github.com/")).status == 200


async def test_an_unknown_handler_name_is_cloudflares_error(outbound: Emulator) -> None:
    with pytest.raises(OutboundHandlerNotFound) as raised:
        await outbound.sandbox("agent-1").set_outbound_handler("allowEverything")
    assert str(raised.value) == (
        "Outbound handler method 'allowEverything' not found in outboundHandlers for AgentSandbox"
    )
