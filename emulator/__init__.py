"""outbound: run Cloudflare outbound Workers for Sandboxes and Containers locally.

The public Python API; everything else is free to move.

The names load on first use (PEP 562): a JS worker process imports ``emulator.runtime.worker`` and must not
pay for the proxy, the config reader and the HTTP client it never uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BadRequest": "emulator.exchange",
    "BuildError": "emulator.runtime.bundle",
    "ConfigError": "emulator.errors",
    "ConsoleEntry": "emulator.runtime.pool",
    "ContainerProxyMissing": "emulator.sandbox",
    "Decision": "emulator.decide",
    "Deny": "emulator.decide",
    "Emulator": "emulator.emulator",
    "Limits": "emulator.runtime.pool",
    "ModuleLoadError": "emulator.runtime.pool",
    "OutboundError": "emulator.errors",
    "OutboundHandlerNotFound": "emulator.policy",
    "Passthrough": "emulator.decide",
    "Policy": "emulator.policy",
    "Refuse": "emulator.decide",
    "ReloadError": "emulator.reload",
    "Reloaded": "emulator.reload",
    "RunHandler": "emulator.decide",
    "Sandbox": "emulator.sandbox",
    "SandboxConnectionError": "emulator.errors",
    "SandboxError": "emulator.errors",
    "SandboxResponse": "emulator.exchange",
    "Step": "emulator.decide",
    "UserError": "emulator.errors",
}

__all__ = [
    "BadRequest",
    "BuildError",
    "ConfigError",
    "ConsoleEntry",
    "ContainerProxyMissing",
    "Decision",
    "Deny",
    "Emulator",
    "Limits",
    "ModuleLoadError",
    "OutboundError",
    "OutboundHandlerNotFound",
    "Passthrough",
    "Policy",
    "Refuse",
    "ReloadError",
    "Reloaded",
    "RunHandler",
    "Sandbox",
    "SandboxConnectionError",
    "SandboxError",
    "SandboxResponse",
    "Step",
    "UserError",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'emulator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from emulator.decide import Decision, Deny, Passthrough, Refuse, RunHandler, Step
    from emulator.emulator import Emulator
    from emulator.errors import ConfigError, OutboundError, SandboxConnectionError, SandboxError, UserError
    from emulator.exchange import BadRequest, SandboxResponse
    from emulator.policy import OutboundHandlerNotFound, Policy
    from emulator.reload import Reloaded, ReloadError
    from emulator.runtime.bundle import BuildError
    from emulator.runtime.pool import ConsoleEntry, Limits, ModuleLoadError
    from emulator.sandbox import ContainerProxyMissing, Sandbox
