"""Credential injection, end to end, on this machine: a stand-in for GitHub runs on 127.0.0.1 and the
sandbox's requests go through the example's handler, which adds the token from .dev.vars.

    .venv/bin/python examples/credential-injection/demo.py
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp import web

from emulator import Emulator

PROJECT = Path(__file__).parent
TOKEN = "ghp_example_local_token_not_a_real_secret"  # what .dev.vars holds; printed here only to check for it


async def fake_github(seen: list[dict[str, str]]) -> tuple[web.AppRunner, int]:
    async def user(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Requires authentication"}, status=401)
        return web.json_response({"login": "octocat", "plan": "pro"})

    app = web.Application()
    app.router.add_get("/user", user)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    return runner, sock.getsockname()[1]


async def main() -> None:
    seen: list[dict[str, str]] = []
    runner, port = await fake_github(seen)
    address = f"127.0.0.1:{port}"
    try:
        async with Emulator.load(PROJECT, in_memory=True, connect_to={"api.github.com": address}) as emu:
            sandbox = emu.sandbox("agent-1")
            print("sandbox agent-1: GET http://api.github.com/user  (no token in the request)")
            response = await sandbox.fetch("http://api.github.com/user")
            print(f"  -> {response.status} {response.text().strip()}")
            print(f"  decided by: {response.decision.step.value} {response.decision.label}")  # type: ignore[union-attr]
            print(f"  GitHub saw Authorization: {seen[-1].get('Authorization', '(none)')[:16]}…")
            print(f"  the token appears in what the sandbox received: {TOKEN.encode() in response.body}")

            print("sandbox agent-1: GET http://example.com/  (not in allowedHosts)")
            blocked = await sandbox.fetch("http://example.com/")
            print(f"  -> {blocked.status} {blocked.text()}  ({blocked.decision.step.value})")
            assert response.status == 200 and blocked.status == 520 and TOKEN.encode() not in response.body
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
