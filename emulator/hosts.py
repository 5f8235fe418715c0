"""Host names and host patterns, matched exactly as Cloudflare matches them.

Two matchers exist in production and both are reproduced:

- ``simple_glob_match`` is @cloudflare/containers' matcher (contract §1.6), used by ``ContainerProxy`` for
  ``allowedHosts``, ``deniedHosts`` and ``outboundByHost`` keys. ``*`` matches any run of characters, dots
  included; nothing else is special; patterns are not normalised, so ``Example.com`` never matches and a
  pattern with a port or a CIDR never matches either.
- ``EgressAddress`` is workerd's address pattern (contract §2.2), used one level down to decide which
  connections reach ``ContainerProxy`` at all: an IP, a CIDR or a lower-cased hostname glob, with a port.

The value compared is ``normalize_hostname(URL(request.url).hostname)``: WHATWG-lower-cased, IDN to
punycode, IPv4 numbers canonical, IPv6 in brackets, no port, every trailing dot stripped.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import ada_url

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_hostname(hostname: str) -> str:
    """Cloudflare's normalizeHostname: strip every trailing dot (contract §1.6)."""
    return hostname.rstrip(".")


def hostname_of(url: str) -> str:
    """The host a handler's URL names, as ContainerProxy compares it. Raises ValueError for a bad URL."""
    try:
        parsed = ada_url.URL(url)
    except ValueError as error:
        raise ValueError(f"{url!r} is not a valid URL") from error
    return normalize_hostname(parsed.hostname)


def simple_glob_match(pattern: str, value: str) -> bool:
    """@cloudflare/containers' simpleGlobMatch, line for line (contract §1.6)."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == value
    if not value.startswith(parts[0]):
        return False
    if not value.endswith(parts[-1]):
        return False
    position = len(parts[0])
    for part in parts[1:-1]:
        index = value.find(part, position)
        if index == -1:
            return False
        position = index + len(part)
    return position <= len(value) - len(parts[-1])


def matches_host_list(hostname: str, patterns: tuple[str, ...]) -> bool:
    return any(simple_glob_match(pattern, hostname) for pattern in patterns)


def first_glob_match(hostname: str, patterns: tuple[str, ...]) -> str | None:
    """Contract §1.7 steps 3–4: the exact key first, else the first glob (in insertion order) that matches."""
    if hostname in patterns:
        return hostname
    for pattern in patterns:
        if pattern != hostname and simple_glob_match(pattern, hostname):
            return pattern
    return None


def wildcard_match(pattern: str, value: str) -> bool:
    """workerd's hostnameGlobMatches: a classic wildcard match where ``*`` spans any run, dots included."""
    regex = "".join(".*" if char == "*" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


@dataclass(frozen=True)
class EgressAddress:
    """One ``interceptOutboundHttp(s)`` registration: ``<ip|cidr|hostnameGlob>[:port]`` (contract §2.2)."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    glob: str | None
    port: int

    @classmethod
    def parse(cls, address: str, default_port: int) -> EgressAddress:
        if not address:
            raise ValueError("an egress address cannot be empty")
        host, port = _split_port(address)
        network = _parse_network(host)
        if network is not None:
            return cls(network=network, glob=None, port=port or default_port)
        return cls(network=None, glob=host.lower(), port=port or default_port)

    def matches(self, port: int, hostname_hint: str | None, ip: str | None) -> bool:
        if self.port != port:
            return False
        if self.network is not None:
            if ip is None:
                return False
            try:
                return ipaddress.ip_address(ip.strip("[]")) in self.network
            except ValueError:
                return False
        assert self.glob is not None
        if not hostname_hint:
            return False
        try:
            candidate = ada_url.URL(f"http://{hostname_hint}").hostname
        except ValueError:
            return False
        return wildcard_match(self.glob, candidate)


def _split_port(address: str) -> tuple[str, int | None]:
    # IPv6 with a port must be bracketed; two or more colons without brackets mean "no port" (container-client).
    if address.startswith("["):
        end = address.find("]")
        if end == -1:
            return address, None
        host, rest = address[1:end], address[end + 1 :]
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if address.count(":") == 1:
        host, _, port = address.partition(":")
        if port.isdigit():
            return host, int(port)
    return address, None


def _parse_network(host: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(host, strict=False)
    except ValueError:
        return None


def ip_literal(host: str) -> str | None:
    """The IP a URL host names directly (``1.2.3.4``, ``[::1]``), or None for a DNS name."""
    # A WHATWG-parsed host is an IPv6 literal in brackets, a dotted IPv4 ending in a digit, or a name.
    if not host or not (host[0] == "[" or host[-1].isdigit()):
        return None
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def pattern_problem(pattern: str) -> str | None:
    """Why a host-list pattern can never match in production, or None. Used for load-time warnings."""
    host, port = _split_port(pattern)
    if "/" in pattern and _parse_network(host) is not None:
        return "is a CIDR range; @cloudflare/containers compares host names as strings, so it never matches an IP"
    if not pattern.startswith("[") and pattern.count(":") >= 2:
        return "is an IPv6 address without brackets; URL host names keep them ([::1]), so it never matches"
    if port is not None:
        return "has a port; ContainerProxy compares the host name without its port, so it never matches"
    if pattern != pattern.lower():
        return "has upper-case letters; host names are compared lower-cased and patterns are not, so it never matches"
    if pattern.endswith(".") and pattern != ".":
        return "ends with a dot; host names are compared with trailing dots stripped, so it never matches"
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_for_dialling(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for when one is embedded in it (IPv4-mapped, IPv4-compatible,
    NAT64's well-known prefix, 6to4), else ``address``: checks on where a connection goes must see through
    ``[::ffff:127.0.0.1]``, which Linux dials as 127.0.0.1 and Python 3.11 does not call loopback."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = address.packed
    if address in _NAT64 or (packed[:12] == bytes(12) and int(address) > 1):  # ::a.b.c.d (not :: or ::1)
        return ipaddress.IPv4Address(packed[12:])
    return address
