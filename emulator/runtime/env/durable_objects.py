"""The JS runtime's calls on a sandbox stub (``env.<binding>.get(id).<method>(…)``, ``getSandbox(ns, id)``).

``env.<binding>`` of a ``durable_objects`` entry is a ``DurableObjectNamespace`` (js/bindings/durable-objects.js)
whose stubs are sandboxes of the binding's class. Each stub call arrives here as one RPC: the operation is
the method's name, the arguments ``{id, name?, args}`` (the stub's 64-hex id, the name it came from when the
worker knows it, and the method's arguments):

- the ten runtime methods (contract §1.5) go to the sandbox registry (``SandboxRegistry.apply``); its errors
  reach the Worker as an ``Error`` with Cloudflare's text (``Outbound handler method 'x' not found in
  outboundHandlers for MySandbox``), as an error crossing Durable Object RPC does;
- ``exec``, ``writeFile``, ``readFile`` and ``gitCheckout`` go to a ``Shell``, which only ``outbound dev``
  has (it can start commands in the sandbox's network: ``emulator/shell.py``); without one they throw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bindings import BindingError
from emulator.errors import UserError
from emulator.runtime.env.streams import StreamTable
from emulator.sandbox import container_id

RUNTIME_METHODS = (
    "setOutboundHandler",
    "setOutboundByHost",
    "removeOutboundByHost",
    "setOutboundByHosts",
    "setAllowedHosts",
    "setDeniedHosts",
    "allowHost",
    "denyHost",
    "removeAllowedHost",
    "removeDeniedHost",
)
SHELL_METHODS = ("exec", "writeFile", "readFile", "gitCheckout")
# workerd's ActorIdFactoryImpl::idFromString (src/workerd/server/server.c++), verbatim.
OTHER_NAMESPACE = "Durable Object ID is not valid for this namespace."
NEEDS_DEV = (
    "{method}() runs in the sandbox, which needs a running emulator with sandboxes: start the Worker with "
    "`outbound dev`. The Python API alone (Emulator.load) serves only the egress methods."
)


@dataclass(frozen=True)
class SandboxRef:
    """Which sandbox a stub is: its id in the emulator (the Durable Object's name) and its class's export name."""

    sandbox_id: str
    export_name: str


class Registry(Protocol):
    """What the namespace needs of the sandbox registry (``emulator.sandbox.SandboxRegistry``)."""

    async def apply(self, sandbox_id: str, method: str, args: tuple[Any, ...], cls: str | None = None) -> Any: ...

    async def list(self) -> list[str]: ...


class Shell(Protocol):
    """Commands and files inside a sandbox; each method returns the Sandbox SDK's result object."""

    async def exec(self, sandbox: SandboxRef, command: str, options: Mapping[str, Any]) -> dict[str, Any]: ...

    async def write_file(
        self, sandbox: SandboxRef, path: str, content: bytes, encoding: str | None
    ) -> dict[str, Any]: ...

    async def read_file(self, sandbox: SandboxRef, path: str, encoding: str | None) -> tuple[dict[str, Any], bytes]: ...

    async def git_checkout(self, sandbox: SandboxRef, repo_url: str, options: Mapping[str, Any]) -> dict[str, Any]: ...


class SandboxNamespace:
    """The adapter (``BindingHost.serve``) for one Durable Object binding whose class is ``export_name``."""

    def __init__(self, export_name: str, registry: Registry, shell: Shell | None = None) -> None:
        self.export_name = export_name
        self._registry = registry
        self._shell = shell

    async def __call__(
        self, binding: Any, operation: str, arguments: dict[str, Any], body: bytes, streams: StreamTable
    ) -> tuple[Any, bytes]:
        args = arguments.get("args") or []
        if not isinstance(args, list):
            raise BindingError("malformed stub call: args must be a list", js_name="TypeError")
        try:
            sandbox = await self._sandbox(str(arguments.get("id", "")), arguments.get("name"))
            if operation in RUNTIME_METHODS:
                await self._registry.apply(sandbox.sandbox_id, operation, tuple(args), self.export_name)
                return None, b""
            if operation in SHELL_METHODS:
                return await self._shell_call(sandbox, operation, args, body)
        except UserError as error:
            raise BindingError(str(error)) from error
        except (TypeError, ValueError) as error:
            raise BindingError(f"{operation}(): {error}", js_name="TypeError") from error
        raise BindingError(f"{operation}() is not a method of a sandbox stub")

    async def _sandbox(self, hex_id: str, name: object) -> SandboxRef:
        """The sandbox a stub names: by its name, or for an id from idFromString by the sandboxes known."""
        if isinstance(name, str):
            if container_id(self.export_name, name) != hex_id:
                raise BindingError(OTHER_NAMESPACE, js_name="TypeError")
            return SandboxRef(name, self.export_name)
        for sandbox_id in await self._registry.list():
            if container_id(self.export_name, sandbox_id) == hex_id:
                return SandboxRef(sandbox_id, self.export_name)
        raise BindingError(OTHER_NAMESPACE, js_name="TypeError")

    async def _shell_call(self, sandbox: SandboxRef, operation: str, args: list[Any], body: bytes) -> tuple[Any, bytes]:
        shell = self._shell
        if shell is None:
            raise BindingError(NEEDS_DEV.format(method=operation))
        options = _options(args, 1 if operation != "writeFile" else 2)
        match operation:
            case "exec":
                return await shell.exec(sandbox, _text(args, 0, "command"), options), b""
            case "writeFile":
                return await shell.write_file(sandbox, _text(args, 0, "path"), body, options.get("encoding")), b""
            case "readFile":
                return await shell.read_file(sandbox, _text(args, 0, "path"), options.get("encoding"))
            case _:
                return await shell.git_checkout(sandbox, _text(args, 0, "repoUrl"), options), b""


def _text(args: list[Any], index: int, name: str) -> str:
    value = args[index] if len(args) > index else None
    if not isinstance(value, str):
        raise TypeError(f"the {name} argument must be a string")
    return value


def _options(args: list[Any], index: int) -> dict[str, Any]:
    value = args[index] if len(args) > index else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError("options must be an object")
    return {key: item for key, item in value.items() if item is not None}
