"""What production silently mishandles is reported when a project loads (contract §1.10, §7)."""

from __future__ import annotations

from emulator import Emulator


def has(emu: Emulator, *fragments: str) -> bool:
    return any(all(fragment in warning for fragment in fragments) for warning in emu.warnings)


async def test_class_field_registration_is_accepted_with_a_warning(conformance: Emulator) -> None:
    assert has(
        conformance,
        "FieldStyle declares `static outbound = …`",
        "cloudflare/containers#247",
        "`FieldStyle.outbound = …`",
    )
    response = await conformance.sandbox("warn-field", cls="FieldStyle").fetch("http://h.com/")
    assert response.json()["handler"] == "field catch-all"


async def test_patterns_that_never_match_are_reported(conformance: Emulator) -> None:
    assert has(conformance, "Patterns.allowedHosts entry 'Example.org'", "upper-case")
    assert has(conformance, "Patterns.allowedHosts entry '1.2.3.4:8080'", "port")
    assert has(conformance, "Patterns.deniedHosts entry '141.101.64.0/18'", "CIDR")
    assert has(conformance, "PerHost.outboundByHost entry '11.0.0.1:9999'", "port")


async def test_empty_allowlist_is_reported(conformance: Emulator) -> None:
    assert has(conformance, "EmptyAllow.allowedHosts is an empty array", "blocks every host")


async def test_nothing_is_reported_for_a_clean_class(conformance: Emulator) -> None:
    assert not any(warning.startswith("Precedence") for warning in conformance.warnings)
    assert not any(warning.startswith("Lockdown") for warning in conformance.warnings)
