"""Which destinations the emulator never dials for a sandbox or a handler: those production egress cannot reach.

Production egress leaves from Cloudflare's network, which cannot reach this machine, its LAN or its cloud
metadata service; from here, it would. Both ways out are checked with the one ``Unreachable`` decision:

- a sandbox's passthrough, where mitmproxy dials it (``addons/dial.py``);
- a handler's ``fetch()``, the first URL and every redirect it follows (``upstream.py``, for
  ``runtime/host/fetch.py``).

A host name is resolved once, every address it resolves to is checked, and the connection goes to a checked
address, never to a second lookup that could answer differently (DNS rebinding). ``connect_to`` reroutes are
the user's own choice and are not checked: that is how tests and local development reach local servers.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from emulator.hosts import address_for_dialling

OWN_MACHINE = "an address of the emulator's own machine"
METADATA = "a link-local or cloud metadata address, which production egress cannot reach"
PRIVATE = "a private address, which production egress cannot reach (connect_to can stand in for a host)"
# Metadata services outside link-local space: Alibaba Cloud, Azure's wire server, AWS over IPv6.
CLOUD_METADATA = frozenset(("100.100.100.200", "168.63.129.16", "fd00:ec2::254"))

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Refusal = Callable[[str], str | None]


@dataclass(frozen=True)
class Unreachable:
    """What production egress cannot reach: this machine (``local``: its interface addresses; ``networks``: the
    sandboxes' own subnet), private networks and cloud metadata."""

    local: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    def refusal(self, host: str) -> str | None:
        """Why nothing may be dialled to ``host`` (an address, or a name only for "localhost"), or None."""
        try:
            address = address_for_dialling(ipaddress.ip_address(host))
        except ValueError:
            name = host.lower().rstrip(".")
            return OWN_MACHINE if name == "localhost" or name.endswith(".localhost") else None
        if address.is_loopback or address.is_unspecified or str(address) in self.local:
            return OWN_MACHINE
        if any(address in network for network in self.networks):
            return OWN_MACHINE
        if address.is_link_local or str(address) in CLOUD_METADATA:
            return METADATA
        if not address.is_global:
            return PRIVATE
        return None


def resolved_refusal(refusal: Refusal, name: str, addresses: Iterable[str]) -> str | None:
    """Why ``name`` must not be dialled, given every address it resolved to: one refused address refuses the
    name (a resolver that mixes a public and a private answer must not get to choose). Phrased to follow
    "refused: "."""
    for address in addresses:
        if why := refusal(address):
            return f"{name} resolves to {address}, {why}"
    return None


def local_addresses() -> frozenset[str]:
    """Every address of this machine's interfaces (``ip -j addr``), scope ids dropped.

    Without iproute2 (not Linux) the set is empty: loopback, private and link-local addresses are refused all
    the same; only a public address of this machine's own would then go unrecognised.
    """
    try:
        out = subprocess.run(["ip", "-j", "addr"], capture_output=True, check=False, timeout=10).stdout
        interfaces = json.loads(out or b"[]")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return frozenset()
    return frozenset(
        info["local"].split("%")[0]
        for interface in interfaces
        for info in interface.get("addr_info", [])
        if "local" in info
    )
