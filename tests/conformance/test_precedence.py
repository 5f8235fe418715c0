"""Runtime vs static per-host handlers, params, ctx, and the runtime methods (contract §9 cases 7–9)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from emulator import Emulator, OutboundHandlerNotFound, Step


async def answer(emu: Emulator, sandbox: str, url: str) -> dict[str, Any]:
    response = await emu.sandbox(sandbox, cls="Precedence").fetch(url)
    assert response.status == 200, response.body
    result: dict[str, Any] = response.json()
    return result


async def test_runtime_per_host_beats_static_and_carries_params(conformance: Emulator) -> None:
    # case 7
    sandbox = conformance.sandbox("prec-7", cls="Precedence")
    static = await answer(conformance, "prec-7", "http://github.com/")
    assert static["handler"] == "static github.com"
    assert static["hasParams"] is False  # static handlers get {containerId, className} only
    await sandbox.set_outbound_by_host("github.com", "x", {"hello": "world"})
    runtime = await answer(conformance, "prec-7", "http://github.com/")
    assert runtime["handler"] == "x"
    assert runtime["params"] == {"hello": "world"}
    assert runtime["className"] == "Precedence"
    expected_id = await sandbox.container_id()
    assert runtime["containerId"] == expected_id and len(expected_id) == 64
    assert int(expected_id, 16) >= 0


async def test_container_id_is_stable_and_per_sandbox(conformance: Emulator) -> None:
    first = await conformance.sandbox("id-a", cls="Precedence").container_id()
    assert first == await conformance.sandbox("id-a").container_id()
    assert first != await conformance.sandbox("id-b", cls="Precedence").container_id()
    assert first == hashlib.sha256(b"outbound-durable-object:Precedence:id-a").hexdigest()


async def test_runtime_glob_beats_static_exact_and_first_glob_wins(conformance: Emulator) -> None:
    # case 8
    sandbox = conformance.sandbox("prec-8", cls="Precedence")
    assert (await answer(conformance, "prec-8", "http://api.example.com/"))["handler"] == "static api.example.com"
    assert (await answer(conformance, "prec-8", "http://www.example.com/"))["handler"] == "static *.example.com"
    await sandbox.set_outbound_by_host("*.com", "glob")
    assert (await answer(conformance, "prec-8", "http://api.example.com/"))["handler"] == "glob"
    await sandbox.set_outbound_by_hosts({"*.com": "glob", "api.example.com": "exact"})
    assert (await answer(conformance, "prec-8", "http://api.example.com/"))["handler"] == "exact"
    assert (await answer(conformance, "prec-8", "http://www.example.com/"))["handler"] == "glob"


async def test_set_outbound_handler_replaces_the_catch_all(conformance: Emulator) -> None:
    # case 9
    sandbox = conformance.sandbox("prec-9", cls="Precedence")
    await sandbox.set_outbound_handler("a")
    first = await answer(conformance, "prec-9", "http://elsewhere.net/")
    assert (first["handler"], first["hasParams"], first["params"]) == ("a", True, None)  # params key, undefined
    await sandbox.set_outbound_handler("b", {"p": 1})
    second = await answer(conformance, "prec-9", "http://elsewhere.net/")
    assert (second["handler"], second["params"]) == ("b", {"p": 1})


async def test_unknown_handler_is_cloudflares_error_and_changes_nothing(conformance: Emulator) -> None:
    sandbox = conformance.sandbox("prec-9b", cls="Precedence")
    await sandbox.set_outbound_handler("a")
    with pytest.raises(OutboundHandlerNotFound) as raised:
        await sandbox.set_outbound_handler("zzz")
    assert str(raised.value) == "Outbound handler method 'zzz' not found in outboundHandlers for Precedence"
    assert (await answer(conformance, "prec-9b", "http://elsewhere.net/"))["handler"] == "a"


async def test_set_outbound_by_hosts_replaces_and_remove_falls_back_to_static(conformance: Emulator) -> None:
    sandbox = conformance.sandbox("prec-9c", cls="Precedence")
    await sandbox.set_outbound_by_host("github.com", "x")
    await sandbox.set_outbound_by_hosts({"h1.net": "a", "h2.net": {"method": "b", "params": {"k": "v"}}})
    assert (await answer(conformance, "prec-9c", "http://github.com/"))["handler"] == "static github.com"
    assert (await answer(conformance, "prec-9c", "http://h1.net/"))["handler"] == "a"
    assert (await answer(conformance, "prec-9c", "http://h2.net/"))["params"] == {"k": "v"}
    await sandbox.set_outbound_by_host("github.com", "x")
    await sandbox.remove_outbound_by_host("github.com")
    response = await sandbox.fetch("http://github.com/")
    assert response.json()["handler"] == "static github.com"
    assert response.decision.step is Step.STATIC_BY_HOST


async def test_mismatched_class_is_refused(conformance: Emulator) -> None:
    await conformance.sandbox("prec-class", cls="Precedence").container_id()
    with pytest.raises(Exception, match="already exists with class 'Precedence', not 'Lockdown'"):
        await conformance.sandbox("prec-class", cls="Lockdown").fetch("http://github.com/")
