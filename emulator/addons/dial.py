"""Where a passed-through connection goes, and with which TLS name.

Passthrough of an intercepted request goes where ContainerProxy's ``fetch(request)`` would: the request URL's
host (rerouted by ``connect_to`` in tests and dev). Bytes that were never intercepted go to the connection's
original destination, except that a synthetic address from the emulator's DNS is turned back into the name it
stands for (dns.py) and rerouted the same way; the placeholder 11.0.0.1 stands for no real server, so such a
connection is refused, as is every connection marked refused by the addons before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mitmproxy import connection
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

from emulator.addons.state import Connections
from emulator.dns import PLACEHOLDER_V4, PLACEHOLDER_V6
from emulator.upstream import Route, rerouted


class Dial:
    def __init__(
        self,
        connections: Connections,
        routes: Mapping[Route, Route],
        name_for_ip: Callable[[str], str | None],
        is_local: Callable[[str], bool],
    ) -> None:
        self._connections = connections
        self._routes = routes
        self._name_for_ip = name_for_ip
        self._is_local = is_local  # the host's own addresses: a sandbox must not reach them by passing through
        self._expected: dict[tuple[str, tuple[str, int]], str | None] = {}

    def expect(self, client: connection.Client, address: tuple[str, int], sni: str | None) -> None:
        """The next connection of ``client`` to ``address`` is a passthrough the addons already vetted (its
        target came from the request URL or connect_to), with ``sni`` for TLS."""
        self._expected[(client.id, address)] = sni

    def target(self, host: str, port: int) -> tuple[str, int]:
        return rerouted(self._routes, host, port) or (host, port)

    def forbidden(self, host: str) -> bool:
        """A destination on this machine (its services, the control API, the proxy itself): never dialled."""
        return self._is_local(host)

    def server_connect(self, data: ServerConnectionHookData) -> None:
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
            data.server.address = self.target(name, port)
            if data.server.sni is None:
                data.server.sni = name
        elif self.forbidden(host):
            data.server.error = f"outbound: refused: {host} is an address of the emulator's own machine"

    def client_disconnected(self, client: connection.Client) -> None:
        for key in [k for k in self._expected if k[0] == client.id]:
            del self._expected[key]
        self._connections.forget(client)
