"""Where a sandbox's passed-through connection may go: names resolved once, every address checked, the checked
address dialled (addons/dial.py)."""

from __future__ import annotations

from emulator.addons.dial import Dial


def refusal(address: str) -> str | None:
    return "this machine" if address in ("127.0.0.1", "::1", "localhost") else None


def dial() -> Dial:
    return Dial(None, {}, lambda ip: None, refusal)  # type: ignore[arg-type]


async def test_a_name_is_checked_where_it_resolves() -> None:
    assert await dial().vet("localhost", 8080) == (None, "localhost is this machine")
    refusing_addresses = Dial(None, {}, lambda ip: None, lambda a: "loopback" if a == "127.0.0.1" else None)  # type: ignore[arg-type]
    assert await refusing_addresses.vet("localhost", 80) == (None, "localhost resolves to 127.0.0.1, loopback")


async def test_addresses_are_checked_without_resolving() -> None:
    assert await dial().vet("127.0.0.1", 80) == (None, "127.0.0.1 is this machine")
    assert await dial().vet("203.0.113.7", 443) == (("203.0.113.7", 443), "")


async def test_a_name_that_does_not_resolve_is_refused_with_the_reason() -> None:
    address, why = await dial().vet("does-not-exist.invalid", 80)
    assert address is None and why.startswith("does-not-exist.invalid does not resolve (")
