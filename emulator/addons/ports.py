"""Ports other than 80 and 443 are never given to handlers (contract §1.8, §2.2): their bytes pass through
untouched when the sandbox's class has ``enableInternet``, and the connection is refused when it has not."""

from __future__ import annotations

from mitmproxy.proxy import layer, layers

from emulator.addons.state import Connections

INTERCEPTED_PORTS = (80, 443)


class Ports:
    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    async def next_layer(self, nextlayer: layer.NextLayer) -> None:
        context = nextlayer.context
        client = context.client
        if nextlayer.layer is not None or len(context.layers) != 1 or not client.sockname:
            return
        if client.proxy_mode.type_name != "transparent" or client.sockname[1] in INTERCEPTED_PORTS:
            return
        live = await self._connections.sandbox(client)
        if live is None or not live.policy.instance.enable_internet:
            self._connections.refuse(client, "enableInternet is false and this port is never intercepted")
        nextlayer.layer = layers.TCPLayer(context, ignore=True)
