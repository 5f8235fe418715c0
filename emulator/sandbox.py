"""Sandboxes: their identity, their live policy, and the handle the Python API gives users.

A sandbox is a Durable Object instance of a Container class in production. Here it is a row in the state
store (``state.py``) plus a ``Policy`` built when it is first used: the JS runtime constructs the class for
that id (``describe``), persisted overrides are restored (dropping those whose handler is gone, with
Cloudflare's warning), and the ten runtime methods change it under a per-sandbox lock and save it before they
return. A reload (``SandboxRegistry.switch``) does the same for every loaded sandbox with the new version, as
Cloudflare does when a Durable Object restarts; each ``LiveSandbox`` keeps the version (``egress``) its policy
was read from, so a request decided before a reload runs where it was decided.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.audit import AuditLog, AuditRecord, ConsoleLine
from emulator.classes import ClassDescription, container_proxy_error, parse_description
from emulator.decide import decide_request
from emulator.egress import Answer, Egress, Origin
from emulator.errors import SandboxConnectionError, SandboxError, UserError
from emulator.exchange import BadRequest, SandboxRequest, SandboxResponse
from emulator.hosts import hostname_of
from emulator.policy import RUNTIME_METHODS, Policy, RuntimeOverrides
from emulator.runtime.pool import ConsoleEntry, HandlerError, ResponseBody
from emulator.state import StateStore

log = logging.getLogger("outbound")

_MISSING: Any = object()


def container_id(class_name: str, sandbox_id: str) -> str:
    """A stable 64-hex id, as idFromName gives a Durable Object: one per (class, name)."""
    return hashlib.sha256(f"outbound-durable-object:{class_name}:{sandbox_id}".encode()).hexdigest()


class ContainerProxyMissing(UserError):
    """The module uses outbound interception but does not export ContainerProxy (contract §1.1)."""


@dataclass(eq=False)
class LiveSandbox:
    id: str
    export_name: str
    container_id: str
    description: ClassDescription
    policy: Policy
    egress: Egress  # the version this sandbox was described by: its requests run there
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    generation: int = 0  # the registry's generation (one per version) it belongs to


class SandboxRegistry:
    """The sandboxes of one emulator: loads them on first use and applies runtime methods."""

    def __init__(
        self,
        state: StateStore,
        egress: Egress,
        container_classes: Mapping[str, str],
        default_class: str | None,
    ) -> None:
        self._state = state
        self._egress = egress
        self.container_classes = dict(container_classes)  # export name -> constructor name
        self._default_class = default_class
        self._live: dict[str, LiveSandbox] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._generation = 0
        # Every sandbox loaded for this generation, while anything holds it (switch() hands the set over).
        self._described: weakref.WeakSet[LiveSandbox] = weakref.WeakSet()

    async def get(self, sandbox_id: str, cls: str | None = None) -> LiveSandbox:
        live = self._live.get(sandbox_id)
        if live is None:
            lock = self._loading.setdefault(sandbox_id, asyncio.Lock())
            async with lock:
                live = self._live.get(sandbox_id)
                while live is None:
                    generation = self._generation
                    loaded = await self._load(sandbox_id, cls)
                    if generation == self._generation:  # else a reload came while loading: load it again
                        live = self._publish(loaded)
        if cls is not None and cls != live.export_name:
            raise _class_mismatch(sandbox_id, live.export_name, cls)
        return live

    def _publish(self, live: LiveSandbox) -> LiveSandbox:
        live.generation = self._generation
        self._live[live.id] = live
        self._described.add(live)
        return live

    def loaded(self, sandbox_id: str) -> LiveSandbox | None:
        """The sandbox if it is already loaded; never touches the store (for synchronous callers)."""
        return self._live.get(sandbox_id)

    async def _load(self, sandbox_id: str, cls: str | None) -> LiveSandbox:
        record = await self._state.get(sandbox_id)
        export_name = record.class_name if record is not None else self._choose_class(cls)
        if export_name not in self.container_classes:
            raise SandboxError(
                f"sandbox {sandbox_id!r} is of class {export_name!r}, which the module no longer exports as a "
                f"Container class (it exports {_list(self.container_classes)}); delete the sandbox or restore the class"
            )
        egress = self._egress
        cid = container_id(export_name, sandbox_id)
        description = await _describe(egress, export_name, sandbox_id, cid)
        policy = _restore(sandbox_id, description, record.overrides if record else None)
        if record is None:
            await self._state.create(sandbox_id, export_name)
        if policy.using_interception:
            await self._state.save_overrides(sandbox_id, policy.overrides)
        return LiveSandbox(sandbox_id, export_name, cid, description, policy, egress)

    async def switch(
        self,
        egress: Egress,
        container_classes: Mapping[str, str],
        default_class: str | None,
        commit: Callable[[], None] = lambda: None,
    ) -> weakref.WeakSet[LiveSandbox]:
        """Serve every sandbox from ``egress`` (a reloaded version) from now on.

        The loaded sandboxes are described by the new version first, then restored at once with the runtime
        overrides they hold, as Cloudflare restores a Durable Object's after a restart: an override naming a
        handler that is gone is dropped with Cloudflare's warning. ``commit`` runs at that instant, so the
        caller's own switch is atomic with this one. Returns the previous version's sandboxes that something
        still holds: requests decided against them are running there, and it must serve them to the end.
        """
        loaded = [live for live in self._live.values() if live.export_name in container_classes]
        descriptions = await asyncio.gather(
            *(_describe(egress, live.export_name, live.id, live.container_id) for live in loaded)
        )
        described = {live.id: description for live, description in zip(loaded, descriptions, strict=True)}
        # From here to commit() nothing awaits: requests see the old version or the new one, never a mix.
        fresh: list[LiveSandbox] = []
        pruned: list[LiveSandbox] = []
        for sandbox_id, live in self._live.items():
            description = described.get(sandbox_id)
            if live.export_name not in container_classes:
                log.warning(
                    "sandbox %s: the reloaded module no longer exports its class %s as a Container class; its "
                    "requests fail until the class is back or the sandbox is deleted",
                    sandbox_id,
                    live.export_name,
                )
            if description is None:  # (or it was loaded during the reload: it is loaded again on its next use)
                continue
            persisted = live.policy.overrides if live.policy.using_interception else None
            try:
                policy = _restore(sandbox_id, description, persisted)
            except ContainerProxyMissing as error:
                log.warning("%s", error)
                continue
            restored = LiveSandbox(sandbox_id, live.export_name, live.container_id, description, policy, egress)
            fresh.append(restored)
            if persisted is not None and policy.overrides != persisted:
                pruned.append(restored)
        previous, self._described = self._described, weakref.WeakSet()
        self._egress = egress
        self.container_classes = dict(container_classes)
        self._default_class = default_class
        self._generation += 1
        self._live.clear()
        for live in fresh:
            self._publish(live)
        commit()
        for live in pruned:  # overrides dropped above are dropped from the store too, as on a restart
            async with live.lock:
                try:
                    await self._state.save_overrides(live.id, live.policy.overrides)
                except Exception as error:  # noqa: BLE001 - the switch is done; the next load drops them again
                    log.error("sandbox %s: could not save its overrides after the reload: %s", live.id, error)
        return previous

    def _choose_class(self, cls: str | None) -> str:
        if cls is not None:
            if cls not in self.container_classes:
                raise SandboxError(
                    f"{cls!r} is not a Container or Sandbox class exported by the module; "
                    f"exported classes: {_list(self.container_classes)}"
                )
            return cls
        if self._default_class is not None:
            return self._default_class
        raise SandboxError(
            f"the module exports {len(self.container_classes)} Container classes ({_list(self.container_classes)}); "
            "say which one the sandbox is with cls=… (--class on the command line)"
        )

    async def apply(self, sandbox_id: str, method: str, args: tuple[Any, ...], cls: str | None = None) -> Policy:
        """Run one of the ten runtime methods by its Cloudflare name and persist the result."""
        if method not in RUNTIME_METHODS:
            raise UserError(f"unknown runtime method {method!r}; use one of: {', '.join(RUNTIME_METHODS)}")
        attribute, least, most = RUNTIME_METHODS[method]
        if not least <= len(args) <= most:
            expected = str(least) if least == most else f"{least} to {most}"
            raise UserError(f"{method} takes {expected} argument(s), got {len(args)}")
        while True:
            live = await self.get(sandbox_id, cls)
            async with live.lock:
                policy: Policy = getattr(live.policy, attribute)(*args)
                if policy.using_interception:
                    await self._state.save_overrides(sandbox_id, policy.overrides)
                live.policy = policy
                if live.generation == self._generation:
                    return policy
            # A reload switched versions meanwhile, perhaps from the policy before this change: apply it again
            # to the new version's sandbox (every runtime method gives the same result applied twice).

    async def list(self) -> list[str]:
        return [record.id for record in await self._state.list()]

    async def delete(self, sandbox_id: str) -> bool:
        self._live.pop(sandbox_id, None)
        return await self._state.delete(sandbox_id)


async def _describe(egress: Egress, export_name: str, sandbox_id: str, cid: str) -> ClassDescription:
    """Construct the sandbox's class in ``egress``'s version and read what it registered (contract §1.3)."""
    data = await egress.pool.call("describe", {"exportName": export_name, "sandbox": sandbox_id, "containerId": cid})
    return parse_description(export_name, data)


def _restore(sandbox_id: str, description: ClassDescription, persisted: RuntimeOverrides | None) -> Policy:
    """The policy of a freshly constructed sandbox with its persisted overrides, as the Container
    constructor restores them (dropping, with Cloudflare's warning, those whose handler is gone)."""
    policy, warnings = Policy.start(description.config, description.instance, persisted)
    for warning in warnings:
        log.warning("sandbox %s: %s", sandbox_id, warning)
    if policy.using_interception and not description.has_container_proxy:
        raise ContainerProxyMissing(f"sandbox {sandbox_id!r} ({description.export_name}): {container_proxy_error()}")
    return policy


def _class_mismatch(sandbox_id: str, existing: str, asked: str) -> SandboxError:
    return SandboxError(
        f"sandbox {sandbox_id!r} already exists with class {existing!r}, not {asked!r}; "
        "use another sandbox id or delete this one"
    )


def _list(names: Iterable[str]) -> str:
    names = list(names)
    return ", ".join(names) if names else "none"


class Sandbox:
    """One sandbox, as a platform's Worker (or a CI test) drives it.

    ``fetch`` sends a request as if a program inside the sandbox had made it; the ten runtime methods are
    Cloudflare's, in snake_case, with Cloudflare's errors.
    """

    def __init__(
        self,
        sandbox_id: str,
        registry: SandboxRegistry,
        egress_of: Callable[[], Egress],
        cls: str | None = None,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        self.id = sandbox_id
        self._registry = registry
        self._egress_of = egress_of  # the current version's Egress, so a reload is picked up
        self._cls = cls
        self._audit = audit

    def __repr__(self) -> str:
        return f"Sandbox({self.id!r})"

    async def _live(self) -> LiveSandbox:
        return await self._registry.get(self.id, self._cls)

    async def policy(self) -> Policy:
        return (await self._live()).policy

    async def container_id(self) -> str:
        return (await self._live()).container_id

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes | str | None = None,
    ) -> SandboxResponse:
        request = SandboxRequest.from_client(url, method=method, headers=headers, body=body)
        live = await self._live()
        return await send(live, request, self._egress_of(), self._audit)

    async def set_outbound_handler(self, method: str, params: Any = _MISSING) -> None:
        await self._apply("setOutboundHandler", method, params)

    async def set_outbound_by_host(self, hostname: str, method: str, params: Any = _MISSING) -> None:
        await self._apply("setOutboundByHost", hostname, method, params)

    async def remove_outbound_by_host(self, hostname: str) -> None:
        await self._apply("removeOutboundByHost", hostname)

    async def set_outbound_by_hosts(self, handlers: Mapping[str, str | Mapping[str, Any]]) -> None:
        await self._apply("setOutboundByHosts", handlers)

    async def set_allowed_hosts(self, hosts: Iterable[str]) -> None:
        await self._apply("setAllowedHosts", list(hosts))

    async def set_denied_hosts(self, hosts: Iterable[str]) -> None:
        await self._apply("setDeniedHosts", list(hosts))

    async def allow_host(self, hostname: str) -> None:
        await self._apply("allowHost", hostname)

    async def deny_host(self, hostname: str) -> None:
        await self._apply("denyHost", hostname)

    async def remove_allowed_host(self, hostname: str) -> None:
        await self._apply("removeAllowedHost", hostname)

    async def remove_denied_host(self, hostname: str) -> None:
        await self._apply("removeDeniedHost", hostname)

    async def _apply(self, method: str, *args: Any) -> None:
        await self._registry.apply(self.id, method, tuple(a for a in args if a is not _MISSING), self._cls)


async def send(
    live: LiveSandbox, request: SandboxRequest, egress: Egress, audit: AuditLog | None = None
) -> SandboxResponse:
    """Decide and answer one request of ``live``, reading the whole response body; one audit record."""
    arrived, started = time.time(), time.perf_counter()
    hostname = request.hostname
    if hostname is None:
        try:
            hostname = hostname_of(request.url)
        except ValueError as error:
            raise BadRequest(f"the Host header does not make a valid URL ({request.url!r})") from error
    decision = decide_request(live.policy, request.destination, hostname)
    origin = Origin(live.id, live.description.config.class_name, live.container_id)
    handler = getattr(decision, "label", None)
    status: int | None = None
    body = b""
    console: list[ConsoleEntry] = []
    failure: str | None = None
    answer: Answer | None = None
    try:
        answer = await egress.answer(origin, request, decision)
        status, failure = answer.status, answer.failure
        console = answer.tag.console if answer.tag is not None else []
        try:
            body = await _read(answer.body)
        except HandlerError as error:
            raise SandboxConnectionError(
                f"the response from {handler or decision.step.value} broke off mid-body: {error}"
            ) from error
    except SandboxConnectionError as error:
        failure, status = str(error), None
        raise
    finally:
        if audit is not None:
            audit.add(
                AuditRecord(
                    time=arrived,
                    sandbox=live.id,
                    method=request.method,
                    url=request.url,
                    step=decision.step.value,
                    handler=handler,
                    status=status,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    request_bytes=len(request.body or b""),
                    response_bytes=len(body),
                    console=tuple(ConsoleLine(entry.level, entry.message) for entry in console),
                    error=failure,
                    warnings=tuple(answer.warnings) if answer is not None else (),
                )
            )
    return SandboxResponse(answer.status, answer.reason, answer.headers, body, decision, console)


async def _read(body: bytes | AsyncIterable[bytes]) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, ResponseBody):
        return await body.read()
    return b"".join([chunk async for chunk in body])
