"""Cloudflare's host matchers, checked against the contract's tables (§1.6, §2.2, §9 case 13)."""

from __future__ import annotations

import pytest

from emulator.hosts import (
    EgressAddress,
    first_glob_match,
    hostname_of,
    ip_literal,
    pattern_problem,
    simple_glob_match,
)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("example.com", "example.com", True),
        ("example.com", "a.example.com", False),
        ("*.example.com", "example.com", False),  # needs the literal ".example.com" suffix
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),  # * spans dots
        ("*example.com", "example.com", True),
        ("*example.com", "badexample.com", True),
        ("google.*", "google.co.uk", True),
        ("google.*", "maps.google.com", False),
        ("*", "anything.at.all", True),
        ("*", "", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "acb", False),
        ("ab*ba", "aba", False),  # prefix and suffix may not overlap
        ("Example.com", "example.com", False),  # patterns are not lower-cased
        ("1.2.3.4:8080", "1.2.3.4", False),  # ports in patterns never match
        ("141.101.64.0/18", "141.101.64.5", False),  # no CIDR in the library matcher
        ("example.com.", "example.com", False),  # trailing dots in patterns are kept
        ("?xample.com", "example.com", False),  # only * is special
    ],
)
def test_simple_glob_match(pattern: str, value: str, expected: bool) -> None:
    assert simple_glob_match(pattern, value) is expected


@pytest.mark.parametrize(
    ("url", "hostname"),
    [
        ("http://EXAMPLE.com/", "example.com"),
        ("http://example.com./x", "example.com"),
        ("http://example.com../", "example.com"),  # every trailing dot goes
        ("http://bücher.de/", "xn--bcher-kva.de"),
        ("http://example.com:8080/", "example.com"),
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://[::FFFF:127.0.0.1]/", "[::ffff:7f00:1]"),
        ("http://[111::]:80/", "[111::]"),
        ("http://ex%41mple.com/", "example.com"),
    ],
)
def test_hostname_of_normalises_as_containerproxy(url: str, hostname: str) -> None:
    assert hostname_of(url) == hostname


def test_hostname_of_rejects_a_bad_url() -> None:
    with pytest.raises(ValueError, match="not a valid URL"):
        hostname_of("http://exa mple.com/")


def test_first_glob_match_prefers_exact_then_first_glob_in_order() -> None:
    patterns = ("*.com", "api.example.com", "*.example.com")
    assert first_glob_match("api.example.com", patterns) == "api.example.com"
    assert first_glob_match("www.example.com", patterns) == "*.com"  # first in insertion order, not most specific
    assert first_glob_match("example.org", patterns) is None


@pytest.mark.parametrize(
    ("address", "port", "hint", "ip", "expected"),
    [
        ("1.2.3.4", 80, None, "1.2.3.4", True),
        ("1.2.3.4", 8080, None, "1.2.3.4", False),  # no port means 80 for HTTP
        ("11.0.0.1:9999", 9999, None, "11.0.0.1", True),
        ("10.0.0.0/8", 80, None, "10.9.8.7", True),
        ("10.0.0.0/8:8080", 8080, None, "10.9.8.7", True),
        ("[::1]:8080", 8080, None, "::1", True),
        ("fe80::/10", 80, None, "fe80::1", True),  # unbracketed IPv6: no port split
        ("google.com", 80, "google.com", None, True),
        ("Google.COM", 80, "google.com", None, True),  # runtime patterns are lower-cased
        ("*.cloudflare.com", 80, "www.cloudflare.com", None, True),
        ("cloudflare.*.com", 80, "cloudflare.x.com", None, True),
        ("google.com", 80, None, "8.8.8.8", False),  # a host pattern needs a host hint
        ("google.com:9000", 9000, "google.com", None, True),
    ],
)
def test_egress_address(address: str, port: int, hint: str | None, ip: str | None, expected: bool) -> None:
    assert EgressAddress.parse(address, 80).matches(port, hint, ip) is expected


def test_egress_address_rejects_empty() -> None:
    with pytest.raises(ValueError, match="cannot be empty"):
        EgressAddress.parse("", 80)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("github.com", None),
        ("*.github.com", None),
        ("[::1]", None),
        ("141.101.64.0/18", "CIDR"),
        ("1.2.3.4:8080", "port"),
        ("Example.com", "upper-case"),
        ("example.com.", "ends with a dot"),
        ("::1", "without brackets"),
    ],
)
def test_pattern_problem_names_what_never_matches(pattern: str, problem: str | None) -> None:
    found = pattern_problem(pattern)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_ip_literal() -> None:
    assert ip_literal("1.2.3.4") == "1.2.3.4"
    assert ip_literal("[::1]") == "::1"
    assert ip_literal("example.com") is None
