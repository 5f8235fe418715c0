"""The Python API against a running emulator (``outbound dev``), through its control API.

    async with RemoteEmulator.connect("examples/lockdown") as emu:      # finds <project>/.outbound/dev.json
        sandbox = await emu.create_sandbox("agent-1")
        await sandbox.set_outbound_handler("noHttp")
        async for record in emu.follow_audit(sandbox="agent-1"):   # as `outbound tail` shows them
            print(record.line())

The ten runtime methods have the same names and raise the same errors as ``emulator.Sandbox``'s.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from emulator.audit import AuditRecord
from emulator.config import resolve_config
from emulator.errors import SandboxError, UserError
from emulator.policy import OutboundHandlerNotFound

_MISSING: Any = object()
DEV_FILE = "dev.json"  # written by a running server (server.py): its pid, control URL and token


class NotRunning(UserError):
    """No emulator is running for this project (no dev.json, or its process is gone)."""


def find_running(state_dir: Path) -> dict[str, Any]:
    path = state_dir / DEV_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotRunning(
            f"no emulator is running for this project (no {path}); start one with `outbound dev`"
        ) from None
    try:
        os.kill(int(data["pid"]), 0)
    except (ProcessLookupError, KeyError, ValueError):
        raise NotRunning(
            f"the emulator that wrote {path} is no longer running; start one with `outbound dev`"
        ) from None
    return data


class RemoteEmulator:
    def __init__(self, url: str, token: str, info: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.info = info or {}
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def connect(
        cls, target: str | Path | None = None, *, persist_to: str | Path | None = None, cwd: Path | None = None
    ) -> RemoteEmulator:
        """The emulator running for the project at ``target`` (found as wrangler finds a config)."""
        if persist_to is not None:
            state = Path(persist_to)
        else:
            config = resolve_config(target, cwd=cwd or Path.cwd())
            state = config.root / ".outbound"
        info = find_running(state)
        return cls(info["control"], info["token"], info)

    async def __aenter__(self) -> RemoteEmulator:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"authorization": f"Bearer {self._token}"})
        return self._session

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            async with self._client().request(method, f"{self.url}{path}", json=body) as response:
                if response.content_type == "application/json":
                    data = await response.json()
                else:
                    data = await response.read()
        except aiohttp.ClientError as error:
            raise NotRunning(f"cannot reach the emulator's control API at {self.url}: {error}") from error
        if response.status >= 400:
            failure = data.get("error", {}) if isinstance(data, dict) else {}
            message = failure.get("message", f"control API answered {response.status}")
            kind = failure.get("type")
            if kind == "OutboundHandlerNotFound":
                raise OutboundHandlerNotFound(message)
            if kind == "SandboxError":
                raise SandboxError(message)
            raise UserError(message)
        return data

    async def follow_audit(
        self, sandbox: str | None = None, *, on_open: Callable[[], None] | None = None
    ) -> AsyncIterator[AuditRecord]:
        """The emulator's audit records from now on (only ``sandbox``'s when given), as they come; ends when the
        emulator stops. ``on_open`` is called once the emulator follows: no record made after that is missed,
        and none made before is replayed (as ``wrangler tail``; they are in ``<state>/audit.jsonl``)."""
        params = {"sandbox": sandbox} if sandbox else {}
        forever = aiohttp.ClientTimeout(total=None, sock_read=None)  # a quiet emulator is not a dead one
        streaming = False
        try:
            async with self._client().get(f"{self.url}/v1/audit", params=params, timeout=forever) as response:
                if response.status >= 400:
                    failure = (await response.json()).get("error", {})
                    raise UserError(failure.get("message", f"control API answered {response.status}"))
                streaming, pending = True, b""
                if on_open is not None:
                    on_open()
                async for chunk in response.content.iter_any():  # lines may be longer than readline allows
                    lines = (pending + chunk).split(b"\n")
                    pending = lines.pop()
                    for line in lines:
                        if line.strip():
                            yield AuditRecord.from_json(json.loads(line))
        except aiohttp.ClientError as error:
            if streaming:
                return  # the emulator went away mid-stream: the end, as a clean stop is
            raise NotRunning(f"cannot reach the emulator's control API at {self.url}: {error}") from error

    async def sandboxes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.call("GET", "/v1/sandboxes")
        return result

    async def create_sandbox(self, sandbox_id: str, cls: str | None = None) -> RemoteSandbox:
        await self.call("POST", "/v1/sandboxes", {"id": sandbox_id, "class": cls})
        return RemoteSandbox(self, sandbox_id)

    def sandbox(self, sandbox_id: str) -> RemoteSandbox:
        return RemoteSandbox(self, sandbox_id)

    async def delete_sandbox(self, sandbox_id: str) -> None:
        await self.call("DELETE", f"/v1/sandboxes/{sandbox_id}")


class RemoteSandbox:
    def __init__(self, emulator: RemoteEmulator, sandbox_id: str) -> None:
        self.emulator = emulator
        self.id = sandbox_id

    async def ca_certificate(self) -> bytes:
        data: bytes = await self.emulator.call("GET", f"/v1/sandboxes/{self.id}/ca")
        return data

    async def launch_info(self, cls: str | None = None) -> dict[str, Any]:
        query = f"?class={cls}" if cls else ""
        data: dict[str, Any] = await self.emulator.call("GET", f"/v1/sandboxes/{self.id}/launch{query}")
        return data

    async def apply(self, method: str, *args: Any, cls: str | None = None) -> dict[str, Any]:
        """One runtime method by its Cloudflare name; returns the persisted overrides."""
        body = {"method": method, "args": [a for a in args if a is not _MISSING], "class": cls}
        data: dict[str, Any] = await self.emulator.call("POST", f"/v1/sandboxes/{self.id}/policy", body)
        return data

    async def set_outbound_handler(self, method: str, params: Any = _MISSING) -> None:
        await self.apply("setOutboundHandler", method, params)

    async def set_outbound_by_host(self, hostname: str, method: str, params: Any = _MISSING) -> None:
        await self.apply("setOutboundByHost", hostname, method, params)

    async def remove_outbound_by_host(self, hostname: str) -> None:
        await self.apply("removeOutboundByHost", hostname)

    async def set_outbound_by_hosts(self, handlers: Mapping[str, str | Mapping[str, Any]]) -> None:
        await self.apply("setOutboundByHosts", dict(handlers))

    async def set_allowed_hosts(self, hosts: Iterable[str]) -> None:
        await self.apply("setAllowedHosts", list(hosts))

    async def set_denied_hosts(self, hosts: Iterable[str]) -> None:
        await self.apply("setDeniedHosts", list(hosts))

    async def allow_host(self, hostname: str) -> None:
        await self.apply("allowHost", hostname)

    async def deny_host(self, hostname: str) -> None:
        await self.apply("denyHost", hostname)

    async def remove_allowed_host(self, hostname: str) -> None:
        await self.apply("removeAllowedHost", hostname)

    async def remove_denied_host(self, hostname: str) -> None:
        await self.apply("removeDeniedHost", hostname)
