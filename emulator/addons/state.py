"""What the addons share about live connections: the sandbox that owns each, and connections to refuse."""

from __future__ import annotations

from mitmproxy import connection

from emulator.addons.identify import Identify
from emulator.sandbox import LiveSandbox, SandboxRegistry


class Connections:
    def __init__(self, identify: Identify, registry: SandboxRegistry) -> None:
        self.identify = identify
        self.registry = registry
        self._refused: dict[str, str] = {}  # client connection id -> why

    async def sandbox(self, client: connection.Client) -> LiveSandbox | None:
        owner = self.identify.sandbox(client)
        if owner is None:
            return None
        return await self.registry.get(owner)

    def refuse(self, client: connection.Client, why: str) -> None:
        self._refused[client.id] = why

    def refusal(self, client: connection.Client) -> str | None:
        return self._refused.get(client.id)

    def forget(self, client: connection.Client) -> None:
        self._refused.pop(client.id, None)
