"""The ``env`` a handler receives, and the emulator's side of its binding calls.

Vars and secrets travel to each JS worker once, at start, as JSON (secrets win over vars of the same name, as
in ``wrangler dev``). Bindings travel as specs (name and kind); the JS runtime builds ``KVNamespace``,
``R2Bucket``, ``SecretsStoreSecret`` and ``DurableObjectNamespace`` objects whose methods call back here over
the bridge (``RPC`` frames). ``BindingHost`` owns the open stores and answers those calls: one adapter module
per binding kind turns the JSON arguments into calls on the ``bindings`` package (or, for a Durable Object
namespace of sandboxes, on the emulator's sandboxes: ``durable_objects.py``) and the results back into JSON
and bytes.

This package is the only place the runtime imports ``bindings``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bindings import BindingError, Bindings, BindingSpec, KVSpec, R2Spec, SecretsStoreSpec, StorageError
from emulator.config import WorkerConfig
from emulator.runtime.bridge import pack_meta, unpack_meta
from emulator.runtime.env.streams import StreamTable

log = logging.getLogger("outbound")

# The JS constructor each binding kind gets (js/bindings/index.js makeBinding).
KINDS = {KVSpec: "kv", R2Spec: "r2", SecretsStoreSpec: "secret"}


def build_env(config: WorkerConfig, extra_vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    env: dict[str, Any] = dict(config.vars)
    env.update(extra_vars or {})
    env.update(config.secrets)
    return env


def binding_specs(config: WorkerConfig) -> list[BindingSpec]:
    specs: list[BindingSpec] = [KVSpec(kv.binding, kv.id) for kv in config.kv_namespaces]
    specs += [R2Spec(r2.binding, r2.bucket_name) for r2 in config.r2_buckets]
    specs += [SecretsStoreSpec(s.binding, s.store_id, s.secret_name) for s in config.secrets_store_secrets]
    return specs


def js_bindings(specs: list[BindingSpec]) -> list[dict[str, str]]:
    """What each worker needs to build the binding objects: name and kind only."""
    return [{"name": spec.binding, "type": KINDS[type(spec)]} for spec in specs]


def durable_object_bindings(config: WorkerConfig) -> list[dict[str, str]]:
    """The ``durable_objects`` bindings to this Worker's own classes, as JS binding specs (kind "do").

    ``className`` is the export name: a sandbox's id derives from it (``emulator.sandbox.container_id``). A
    binding to another Worker's class (``script_name``) is left out, as there is no such Worker here.
    """
    return [
        {"name": binding.name, "type": "do", "className": binding.class_name}
        for binding in config.durable_objects
        if binding.script_name in (None, config.name)
    ]


# One binding kind's calls: (binding object, operation, JSON arguments, body bytes, open streams) ->
# (JSON result, bytes). Raises BindingError with Cloudflare's text.
Adapter = Callable[[Any, str, dict[str, Any], bytes, StreamTable], Awaitable[tuple[Any, bytes]]]


class BindingHost:
    """Answers the JS runtime's binding calls (the pool's ``on_rpc``).

    ``extra`` serves bindings that are not Cloudflare's stores, by name: tests use one to move the stores'
    clock from JS (the type "rpc"), and the emulator serves its Durable Object namespaces so (``serve``).
    """

    def __init__(
        self,
        bindings: Bindings,
        extra: Mapping[str, Adapter] | None = None,
        *,
        on_secret: Callable[[str, str], None] | None = None,
    ) -> None:
        """``on_secret`` hears every Secrets Store value a handler reads (binding name, value), before the
        handler has it (the emulator redacts it from its logs and from responses to sandboxes)."""
        from emulator.runtime.env import kv, r2, secrets  # noqa: PLC0415 - adapters import this module

        self.bindings = bindings
        self._on_secret = on_secret
        self.streams = StreamTable()
        self._adapters: dict[type, Adapter] = {KVSpec: kv.serve, R2Spec: r2.serve, SecretsStoreSpec: secrets.serve}
        self._extra = dict(extra or {})

    def serve(self, name: str, adapter: Adapter) -> None:
        """Answer ``env.<name>``'s calls with ``adapter`` from now on (replacing any adapter it had)."""
        self._extra[name] = adapter

    async def handle(self, payload: bytes) -> bytes:
        """One call: ``{b: binding, o: operation, a: arguments}`` + bytes in; ``{ok}`` or ``{error}`` out."""
        try:
            meta, body = unpack_meta(payload)
            name, operation, arguments = meta["b"], meta["o"], meta.get("a") or {}
        except (ValueError, KeyError) as error:
            return _error("Error", f"malformed binding call: {error}")
        try:
            if operation in ("read", "close") and "s" in arguments:
                value, data = await self.streams.serve(operation, arguments)
            elif name in self._extra:
                value, data = await self._extra[name](None, operation, arguments, body, self.streams)
            else:
                spec = self.bindings.specs.get(name)
                if spec is None:
                    return _error("Error", f"env.{name} is not a binding of this Worker")
                serve = self._adapters[type(spec)]
                value, data = await serve(self.bindings[name], operation, arguments, body, self.streams)
                if isinstance(spec, SecretsStoreSpec) and isinstance(value, str) and self._on_secret is not None:
                    self._on_secret(name, value)
        except BindingError as error:
            if isinstance(error.__cause__, StorageError):  # a full disk: the handler is told, and the operator too
                log.error("binding %s: %s failed: %s", name, operation, error.__cause__)
            return _error(error.js_name, str(error))
        except StorageError as error:
            log.error("binding %s: %s failed: %s", name, operation, error)
            return _error("Error", f"{name}.{operation}() failed: the local store reported an error ({error})")
        return pack_meta({"ok": value}, data)

    async def close(self) -> None:
        await self.streams.close()


def _error(name: str, message: str) -> bytes:
    return pack_meta({"error": {"name": name, "message": message}})
