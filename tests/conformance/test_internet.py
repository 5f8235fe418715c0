"""Passthrough, allowlists, patterns production never matches, and ports (contract §9 cases 10–13, 15)."""

from __future__ import annotations

import pytest

from emulator import Emulator, Passthrough, SandboxConnectionError, Step
from tests.support.upstream import LocalInternet, echoed


async def test_intercept_all_with_internet_passes_unhandled_hosts_through(conformance: Emulator) -> None:
    # case 10, enableInternet = true: nothing handles h.com, so it reaches the (local) internet
    sandbox = conformance.sandbox("net-open", cls="OpenInternet")
    await sandbox.deny_host("never.example")  # any allow/deny list switches to intercept-all
    response = await sandbox.fetch("http://h.com/echo", headers={"x-from": "sandbox"})
    assert response.status == 200
    assert response.decision == Passthrough(Step.INTERNET_PASSTHROUGH)
    seen = echoed(response.body)
    assert ["x-from", "sandbox"] in seen["headers"]
    assert ["Host", "h.com"] in seen["headers"]


async def test_intercept_all_without_internet_answers_520(conformance: Emulator) -> None:
    # case 10, enableInternet = false
    sandbox = conformance.sandbox("net-closed", cls="ClosedInternet")
    await sandbox.deny_host("never.example")
    response = await sandbox.fetch("http://h.com/echo")
    assert (response.status, response.body, response.decision.step) == (520, b"Origin is disallowed", Step.BLOCKED)


async def test_not_intercepted_without_internet_closes_the_connection(conformance: Emulator) -> None:
    # case 10, no interception at all
    with pytest.raises(SandboxConnectionError, match="enableInternet is false"):
        await conformance.sandbox("net-plain-closed", cls="PlainClosed").fetch("http://h.com/echo")
    response = await conformance.sandbox("net-plain", cls="Plain").fetch("http://h.com/echo")
    assert (response.status, response.decision) == (200, Passthrough(Step.NOT_INTERCEPTED))


async def test_allowlisted_host_without_handler_gets_internet_when_it_is_off(conformance: Emulator) -> None:
    # case 11
    sandbox = conformance.sandbox("net-allow", cls="AllowOnly")
    for url in ("http://allowed.example/echo", "http://sub.allowed.example/echo"):
        response = await sandbox.fetch(url)
        assert (response.status, response.decision) == (200, Passthrough(Step.ALLOWLIST_PASSTHROUGH))
    assert (await sandbox.fetch("http://other.example/")).status == 520


async def test_empty_allowlist_blocks_everything(conformance: Emulator) -> None:
    # case 12, both ways of getting there
    response = await conformance.sandbox("net-empty", cls="EmptyAllow").fetch("http://h.com/")
    assert (response.status, response.decision.step) == (520, Step.NOT_ALLOWLISTED)
    sandbox = conformance.sandbox("net-emptied", cls="AllowOnly")
    assert (await sandbox.fetch("http://allowed.example/echo")).status == 200
    await sandbox.remove_allowed_host("allowed.example")
    await sandbox.remove_allowed_host("*.allowed.example")
    assert (await sandbox.fetch("http://allowed.example/echo")).status == 520
    assert (await sandbox.policy()).effective_allowed_hosts == ()


@pytest.mark.parametrize(
    ("url", "status", "step"),
    [
        ("http://EXAMPLE.com/", 200, Step.STATIC_CATCH_ALL),  # request host lower-cased, matches "example.com"
        ("http://example.org/", 520, Step.NOT_ALLOWLISTED),  # the pattern "Example.org" never matches
        ("http://1.2.3.4:8080/", None, Step.NOT_INTERCEPTED),  # another port: never reaches ContainerProxy
        ("http://1.2.3.4/", 520, Step.NOT_ALLOWLISTED),  # "1.2.3.4:8080" never matches the host 1.2.3.4
        ("http://141.101.64.5/", 200, Step.STATIC_CATCH_ALL),  # the CIDR deny pattern does not block it
        ("http://[::1]/", 200, Step.STATIC_CATCH_ALL),
    ],
)
async def test_patterns(conformance: Emulator, url: str, status: int | None, step: Step) -> None:
    # case 13 (Patterns has no internet restriction: not-intercepted traffic passes through)
    response = await conformance.sandbox("net-patterns", cls="Patterns").fetch(url)
    assert response.decision.step is step
    if status is not None:
        assert response.status == status


async def test_other_ports_never_reach_handlers(conformance: Emulator, internet: LocalInternet) -> None:
    # case 15: a catch-all is set, but port 8080 is not intercepted; without internet the connection closes
    closed = conformance.sandbox("net-port", cls="ClosedInternet")
    await closed.set_outbound_handler("only")
    assert (await closed.fetch("http://h.com/")).json()["handler"] == "only"
    with pytest.raises(SandboxConnectionError):
        await closed.fetch("http://h.com:8080/")
    port = int(internet.connect_to["upstream.test"].rsplit(":", 1)[1])
    opened = conformance.sandbox("net-port-open", cls="OpenInternet")
    await opened.set_outbound_handler("only")
    response = await opened.fetch(f"http://127.0.0.1:{port}/echo")
    assert response.decision == Passthrough(Step.NOT_INTERCEPTED)
    assert echoed(response.body)["path"] == "/echo"


async def test_per_host_mode_and_the_ip_port_key(conformance: Emulator) -> None:
    sandbox = conformance.sandbox("net-perhost", cls="PerHost")
    response = await sandbox.fetch("http://vcs.example/")
    assert response.json()["handler"] == "static vcs.example"
    with pytest.raises(SandboxConnectionError):
        await sandbox.fetch("http://other.example/")  # not intercepted, no internet
    # "11.0.0.1:9999" is registered with the runtime, so the connection is intercepted, but ContainerProxy
    # compares the host without its port and never runs that handler (contract §7.4).
    blocked = await sandbox.fetch("http://11.0.0.1:9999/")
    assert (blocked.status, blocked.decision.step) == (520, Step.PER_HOST_FALLBACK)
