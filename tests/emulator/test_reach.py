"""What the emulator never dials for a sandbox or a handler (emulator/reach.py), threat model §5.2 and §5.3."""

from __future__ import annotations

import ipaddress

import pytest

from emulator.reach import METADATA, OWN_MACHINE, PRIVATE, Unreachable, local_addresses, resolved_refusal

UNREACHABLE = Unreachable(
    local=frozenset({"203.0.113.5", "2001:db8::5"}), networks=(ipaddress.ip_network("198.51.100.0/24"),)
)


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", OWN_MACHINE),
        ("127.9.9.9", OWN_MACHINE),
        ("::1", OWN_MACHINE),
        ("0.0.0.0", OWN_MACHINE),  # Linux dials it as this machine
        ("::", OWN_MACHINE),
        ("::ffff:127.0.0.1", OWN_MACHINE),  # IPv4-mapped: Linux dials 127.0.0.1
        ("::ffff:7f00:1", OWN_MACHINE),
        ("::127.0.0.1", OWN_MACHINE),  # IPv4-compatible
        ("64:ff9b::7f00:1", OWN_MACHINE),  # NAT64
        ("2002:7f00:1::", OWN_MACHINE),  # 6to4
        ("203.0.113.5", OWN_MACHINE),  # an interface address of this machine
        ("::ffff:203.0.113.5", OWN_MACHINE),
        ("2001:db8::5", OWN_MACHINE),
        ("198.51.100.7", OWN_MACHINE),  # the sandboxes' own subnet
        ("localhost", OWN_MACHINE),
        ("LocalHost.", OWN_MACHINE),
        ("api.localhost", OWN_MACHINE),
        ("169.254.169.254", METADATA),
        ("::ffff:169.254.169.254", METADATA),
        ("fe80::1", METADATA),
        ("fd00:ec2::254", METADATA),
        ("100.100.100.200", METADATA),
        ("168.63.129.16", METADATA),
        ("10.0.0.1", PRIVATE),
        ("172.16.0.1", PRIVATE),
        ("192.168.1.1", PRIVATE),
        ("100.64.0.1", PRIVATE),  # CGNAT
        ("fc00::1", PRIVATE),  # ULA
        ("64:ff9b::a00:1", PRIVATE),  # NAT64 of 10.0.0.1
        ("1.1.1.1", None),
        ("2606:4700::1111", None),
        ("example.com", None),  # a name is checked by what it resolves to
        ("localhost.example.com", None),
    ],
)
def test_refusal(host: str, why: str | None) -> None:
    assert UNREACHABLE.refusal(host) == why


def test_one_refused_answer_refuses_the_name() -> None:
    refusal = UNREACHABLE.refusal
    assert (
        resolved_refusal(refusal, "mixed.test", ["1.1.1.1", "10.0.0.1"])
        == f"mixed.test resolves to 10.0.0.1, {PRIVATE}"
    )
    assert resolved_refusal(refusal, "public.test", ["1.1.1.1", "2606:4700::1111"]) is None


def test_this_machines_addresses_are_found() -> None:
    assert "127.0.0.1" in local_addresses()
