"""Ports other than 80 and 443 are never given to handlers (contract §1.8, §2.2): their bytes pass through
untouched when the sandbox's class has ``enableInternet``, and the connection is refused when it has not. Each
such connection of a sandbox is one audit record (addons/audit.py), its bytes counted as they pass."""

from __future__ import annotations

import logging

from mitmproxy.proxy import layer, layers

from emulator.addons.audit import Audit, CountedTCPLayer
from emulator.addons.state import Connections

log = logging.getLogger("outbound")

INTERCEPTED_PORTS = (80, 443)


class Ports:
    def __init__(self, connections: Connections, audit: Audit) -> None:
        self._connections = connections
        self._audit = audit

    async def next_layer(self, nextlayer: layer.NextLayer) -> None:
        context = nextlayer.context
        client = context.client
        if nextlayer.layer is not None or len(context.layers) != 1 or not client.sockname:
            return
        if client.proxy_mode.type_name != "transparent" or client.sockname[1] in INTERCEPTED_PORTS:
            return
        live = await self._connections.sandbox(client)
        if live is None:
            self._connections.refuse(client, "the connection does not belong to a sandbox")
            log.warning(
                "refused a connection from %s to port %d: the address belongs to no sandbox",
                client.peername[0] if client.peername else "?",
                client.sockname[1],
            )
            nextlayer.layer = layers.TCPLayer(context, ignore=True)
            return
        if not live.policy.instance.enable_internet:
            self._connections.refuse(client, "enableInternet is false and this port is never intercepted")
        tunnel = self._audit.tunnel(context, live.id, "TCP", client.sockname[0], client.sockname[1], counted=True)
        nextlayer.layer = CountedTCPLayer(context, tunnel)
