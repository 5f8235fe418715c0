"""The control API of a running emulator: the CLI and the Python client drive sandboxes through it.

It listens on 127.0.0.1 of the host (a sandbox's network namespace cannot reach it: netns.py drops every
packet from a sandbox that is not for the proxy or the resolver) and every call needs the bearer token from
``<state>/dev.json``, which only the user who started the emulator can read. Routes parse, call the server or
the sandbox registry, and answer JSON; they decide nothing.

    GET    /v1/sandboxes                       [{id, class, containerId}]
    POST   /v1/sandboxes            {id, class?}   create (or load) and prepare a sandbox
    DELETE /v1/sandboxes/{id}                  delete it: state, network, CA
    GET    /v1/sandboxes/{id}/ca               its CA certificate (PEM)
    GET    /v1/sandboxes/{id}/launch           how to start a command as it (outbound run, exec)
    POST   /v1/sandboxes/{id}/policy {method, args}   one of the ten runtime methods, by Cloudflare's name
    GET    /v1/audit?sandbox=ID                audit records from now on (only ID's when given), as they come:
                                               NDJSON, one AuditRecord.to_json() a line, until the emulator stops
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.audit import Follower
from emulator.errors import SandboxError, UserError
from emulator.policy import OutboundHandlerNotFound

if TYPE_CHECKING:
    from emulator.server import Server

NDJSON = "application/x-ndjson"
# How often a quiet audit stream checks that its client is still there (it learns otherwise only on a write).
CLIENT_CHECK_S = 5.0


class ControlAPI:
    def __init__(self, server: Server) -> None:
        self._server = server
        self._token = secrets.token_urlsafe(32)
        self._runner: web.AppRunner | None = None
        self._followers: set[Follower] = set()
        self._closing = False

    async def start(self) -> tuple[str, str]:
        app = web.Application(middlewares=[self._auth, self._errors])
        app.router.add_get("/v1/sandboxes", self._list)
        app.router.add_post("/v1/sandboxes", self._create)
        app.router.add_delete("/v1/sandboxes/{id}", self._delete)
        app.router.add_get("/v1/sandboxes/{id}/ca", self._ca)
        app.router.add_get("/v1/sandboxes/{id}/launch", self._launch)
        app.router.add_post("/v1/sandboxes/{id}/policy", self._policy)
        app.router.add_get("/v1/audit", self._audit)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}", self._token

    async def close(self) -> None:
        self._closing = True
        for follower in list(self._followers):  # end the audit streams first: cleanup waits for open requests
            follower.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        expected = f"Bearer {self._token}"
        if not hmac.compare_digest(request.headers.get("authorization", ""), expected):
            return _error(401, "Unauthorized", "the control API needs the token from <state>/dev.json")
        response: web.StreamResponse = await handler(request)
        return response

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except OutboundHandlerNotFound as error:
            return _error(400, "OutboundHandlerNotFound", str(error))
        except SandboxError as error:
            return _error(404, "SandboxError", str(error))
        except UserError as error:
            return _error(400, "UserError", str(error))
        except (ValueError, KeyError, TypeError) as error:
            return _error(400, "BadRequest", f"malformed request: {error}")
        return response

    async def _list(self, request: web.Request) -> web.Response:
        registry = self._server.emulator.registry
        result = []
        for sandbox_id in await registry.list():
            live = await registry.get(sandbox_id)
            result.append(
                {
                    "id": sandbox_id,
                    "class": live.export_name,
                    "containerId": live.container_id,
                    "running": sandbox_id in self._server.hosts,
                }
            )
        return web.json_response(result)

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        sandbox_id = str(body["id"])
        host = await self._server.prepare(sandbox_id, body.get("class"))
        live = await self._server.emulator.registry.get(sandbox_id)
        return web.json_response({"id": host.sandbox_id, "class": live.export_name, "containerId": live.container_id})

    async def _delete(self, request: web.Request) -> web.Response:
        existed = await self._server.release(request.match_info["id"])
        if not existed:
            raise SandboxError(f"no sandbox {request.match_info['id']!r}")
        return web.json_response({"deleted": request.match_info["id"]})

    async def _ca(self, request: web.Request) -> web.Response:
        host = await self._server.prepare(request.match_info["id"])
        return web.Response(body=host.ca.cert_pem, content_type="application/x-pem-file")

    async def _launch(self, request: web.Request) -> web.Response:
        host = await self._server.prepare(request.match_info["id"], request.query.get("class"))
        return web.json_response(self._server.launch_info(host))

    async def _policy(self, request: web.Request) -> web.Response:
        body = await request.json()
        sandbox_id = request.match_info["id"]
        policy = await self._server.emulator.registry.apply(
            sandbox_id, str(body["method"]), tuple(body.get("args", [])), body.get("class")
        )
        return web.json_response(policy.overrides.to_json())

    async def _audit(self, request: web.Request) -> web.StreamResponse:
        # Subscribed before the headers go out: a client that saw them misses no record made after.
        follower = self._server.emulator.audit.subscribe(request.query.get("sandbox") or None)
        self._followers.add(follower)
        if self._closing:
            follower.close()
        response = web.StreamResponse(headers={"content-type": NDJSON, "cache-control": "no-store"})
        watch = asyncio.create_task(_end_when_gone(request, follower), name="outbound-audit-client")
        try:
            await response.prepare(request)
            async for record in follower:  # until the emulator stops or the client goes
                await response.write(json.dumps(record.to_json(), ensure_ascii=False).encode() + b"\n")
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away mid-write
        finally:
            watch.cancel()
            follower.close()
            self._followers.discard(follower)
        return response


async def _end_when_gone(request: web.Request, follower: Follower) -> None:
    """End ``follower`` once its client has gone: a quiet stream learns that only when it next writes."""
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(CLIENT_CHECK_S)
    follower.close()


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)
