"""Where a passed-through connection goes, and with which TLS name.

Passthrough of an intercepted request goes where ContainerProxy's ``fetch(request)`` would: the request URL's
host (rerouted by ``connect_to`` in tests and dev). Bytes that were never intercepted go to the connection's
original destination, except that a synthetic address from the emulator's DNS is turned back into the name it
stands for (dns.py) and rerouted the same way; the placeholder 11.0.0.1 stands for no real server, so such a
connection is refused, as is every connection marked refused by the addons before.

Production egress leaves from Cloudflare's network, which cannot reach this machine, its LAN or its cloud
metadata service; here it would. So a destination is vetted where it is dialled, with the decision a
handler's ``fetch()`` uses too (``reach.py``): a host name is resolved once, every address it resolves to is
checked (``refusal``), and the connection goes to the checked address, not to a second lookup that could
answer differently. Only ``connect_to`` reroutes — the user's own choice — go to local addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Mapping

from mitmproxy import connection
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

from emulator.addons.state import Connections
from emulator.dns import PLACEHOLDER_V4, PLACEHOLDER_V6
from emulator.reach import Refusal, resolved_refusal
from emulator.upstream import Route, rerouted


class Dial:
    def __init__(
        self,
        connections: Connections,
        routes: Mapping[Route, Route],
        name_for_ip: Callable[[str], str | None],
        refusal: Refusal,
    ) -> None:
        self._connections = connections
        self._routes = routes
        self._name_for_ip = name_for_ip
        self._refusal = refusal  # why an address must not be dialled for a sandbox (None: it may)
        self._expected: dict[tuple[str, tuple[str, int]], str | None] = {}

    def expect(self, client: connection.Client, address: tuple[str, int], sni: str | None) -> None:
        """The next connection of ``client`` to ``address`` is a passthrough the addons already vetted (its
        target came from the request URL or connect_to), with ``sni`` for TLS."""
        self._expected[(client.id, address)] = sni

    def target(self, host: str, port: int) -> tuple[str, int]:
        return rerouted(self._routes, host, port) or (host, port)

    async def vet(self, host: str, port: int) -> tuple[tuple[str, int] | None, str]:
        """Where to dial ``host`` for a sandbox: its first address if none of its addresses is refused, else
        None and the reason, phrased to follow "outbound: refused: "."""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            why = self._refusal(host)
            return (None, f"{host} is {why}") if why else ((host, port), "")
        if why := self._refusal(host):
            return None, f"{host} is {why}"
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            return None, f"{host} does not resolve ({error.strerror or error})"
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if why := resolved_refusal(self._refusal, host, addresses):
            return None, why
        return (addresses[0], port), ""

    async def server_connect(self, data: ServerConnectionHookData) -> None:
        why = self._connections.refusal(data.client)
        if why is not None:
            data.server.error = f"outbound: refused: {why}"
            return
        if data.server.address is None:
            return
        host, port = data.server.address[0], data.server.address[1]
        key = (data.client.id, (host, port))
        if key in self._expected:
            sni = self._expected.pop(key)
            if sni is not None:
                data.server.sni = sni
            return
        if host in (PLACEHOLDER_V4, PLACEHOLDER_V6):
            data.server.error = "outbound: refused: the synthetic address 11.0.0.1 stands for no real server"
            return
        name = self._name_for_ip(host)
        if name is not None:
            if data.server.sni is None:
                data.server.sni = name
            target = self.target(name, port)
            if target != (name, port):
                data.server.address = target
                return
            host = name
        # A destination the sandbox chose itself: the address it dialled, or a name in a CONNECT — which
        # connect_to stands in for DNS for, as it does for the names the emulator's resolver answers.
        target = self.target(host, port)
        if target != (host, port):
            data.server.address = target
            if data.server.sni is None and not _is_address(host):
                data.server.sni = host
            return
        address, why = await self.vet(host, port)
        if address is None:
            data.server.error = f"outbound: refused: {why}"
        else:
            data.server.address = address

    def client_disconnected(self, client: connection.Client) -> None:
        for key in [k for k in self._expected if k[0] == client.id]:
            del self._expected[key]
        self._connections.forget(client)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
