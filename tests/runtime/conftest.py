"""Fixtures for the runtime's network half (upstream.py, host/fetch.py)."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from typing import Any

import pytest

from emulator.hosts import address_for_dialling


@pytest.fixture
async def dialled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address the event loop connects a socket to. Anything but this machine's loopback is refused before
    it leaves, so a broken check fails the test instead of sending traffic off the machine."""
    loop = asyncio.get_running_loop()
    connect = loop.sock_connect
    addresses: list[str] = []

    async def guarded(sock: socket.socket, address: Any) -> None:
        addresses.append(address[0])
        if not address_for_dialling(ipaddress.ip_address(address[0])).is_loopback:
            raise OSError(errno.ENETUNREACH, f"test: {address[0]} is off this machine; not dialled")
        await connect(sock, address)

    monkeypatch.setattr(loop, "sock_connect", guarded)
    return addresses
