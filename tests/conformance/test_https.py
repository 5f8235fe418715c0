"""HTTPS: intercepted only with interceptHttps and an SNI (contract §9 case 14), at the Python API level."""

from __future__ import annotations

from emulator import Emulator, Passthrough, Step
from tests.support.upstream import echoed


async def test_https_without_intercept_passes_a_denied_host_through(conformance: Emulator) -> None:
    # OpenInternet has interceptHttps = false: HTTPS never meets deniedHosts
    sandbox = conformance.sandbox("tls-off", cls="OpenInternet")
    await sandbox.deny_host("github.com")
    assert (await sandbox.fetch("http://github.com/")).status == 520
    response = await sandbox.fetch("https://github.com/echo")
    assert response.decision == Passthrough(Step.NOT_INTERCEPTED)
    assert (response.status, echoed(response.body)["path"]) == (200, "/echo")


async def test_https_with_intercept_is_decided_like_http(conformance: Emulator) -> None:
    sandbox = conformance.sandbox("tls-on", cls="Precedence")
    response = await sandbox.fetch("https://github.com/repo")
    assert response.json() | {"containerId": None} == {
        "handler": "static github.com",
        "url": "https://github.com/repo",
        "method": "GET",
        "containerId": None,
        "className": "Precedence",
        "hasParams": False,
        "params": None,
    }


async def test_tls_without_sni_is_not_intercepted(conformance: Emulator) -> None:
    # A bare IP gives no SNI: the bytes pass through untouched (here: to an address nothing listens on).
    sandbox = conformance.sandbox("tls-nosni", cls="Precedence")
    response = await sandbox.fetch("https://141.101.64.5/")
    assert response.decision == Passthrough(Step.NOT_INTERCEPTED)
