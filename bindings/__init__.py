"""Workers bindings (KV, R2, Secrets Store) for outbound handlers, backed by SQLite and files.

Every binding has the same shape: a spec (what wrangler's config declares), a class with Cloudflare's
operations in Python (``KVNamespace``, ``R2Bucket``, ``SecretsStoreSecret``), Cloudflare's limits as a frozen
dataclass, and Cloudflare's error strings raised as ``BindingError``. Storage is shared (``_storage``): rows
in SQLite, values in immutable files, time from an injected clock. Nothing here knows about JS, mitmproxy or
sandboxes; ``emulator/runtime/env`` is the one bridge.

    bindings = await open_bindings([KVSpec("KEYS", "keys-id")], persist_dir=Path(".outbound"))
    await bindings["KEYS"].put("agent-1", b"token")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bindings._storage.clock import Clock, FakeClock, SystemClock
from bindings.errors import BindingError, StorageError


@dataclass(frozen=True)
class KVSpec:
    binding: str
    id: str  # the namespace id: its folder under <persist>/kv/


@dataclass(frozen=True)
class R2Spec:
    binding: str
    bucket_name: str  # the bucket: its folder under <persist>/r2/


@dataclass(frozen=True)
class SecretsStoreSpec:
    binding: str
    store_id: str
    secret_name: str


BindingSpec = KVSpec | R2Spec | SecretsStoreSpec


@dataclass(frozen=True)
class Limits:
    """Per-binding-kind limits; tests scale them down as Miniflare's ``beingTested`` does."""

    kv: Any = None  # bindings.kv.KVLimits; None means Cloudflare's
    r2: Any = None  # bindings.r2.R2Limits; None means Cloudflare's


@dataclass
class Bindings:
    """The open bindings of one Worker, by binding name."""

    by_name: dict[str, Any] = field(default_factory=dict)
    specs: dict[str, BindingSpec] = field(default_factory=dict)
    # What owns files and connections, by (kind, namespace/bucket/store id): closed once each.
    stores: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    async def close(self, keep: Iterable[Bindings] = ()) -> None:
        """Close every store, except those that ``keep`` (bindings opened with ``reuse``) still use."""
        kept = {id(store) for other in keep for store in other.stores.values()}
        for store in self.stores.values():
            if id(store) not in kept:
                await store.close()
        self.stores.clear()
        self.by_name.clear()


async def open_bindings(
    specs: list[BindingSpec] | tuple[BindingSpec, ...],
    persist_dir: Path | None,
    *,
    clock: Clock | None = None,
    limits: Limits = Limits(),
    reuse: Bindings | None = None,
) -> Bindings:
    """Open every binding in ``specs``; ``persist_dir=None`` keeps all state in memory and temp files.

    Bindings that name the same namespace, bucket or secrets store share one store. ``reuse`` lends its open
    stores to the new bindings (a Worker reloaded with changed bindings keeps the stores both versions use,
    which matters most in memory); close it with ``close(keep=[new])``.
    """
    from bindings.kv import KVNamespace  # noqa: PLC0415 - keeps `import bindings` light
    from bindings.r2 import R2Bucket  # noqa: PLC0415
    from bindings.secrets import SecretsStoreSecret  # noqa: PLC0415

    clock = clock or SystemClock()
    opened = Bindings()
    lent = dict(reuse.stores) if reuse is not None else {}

    def folder(kind: str, name: str) -> Path | None:
        return persist_dir / kind / name if persist_dir else None

    async def store(key: tuple[str, str], open_store: Callable[[], Awaitable[Any]]) -> Any:
        if key not in opened.stores:
            opened.stores[key] = lent[key] if key in lent else await open_store()
        return opened.stores[key]

    try:
        for spec in specs:
            match spec:
                case KVSpec(binding, namespace_id):
                    opened.by_name[binding] = await store(
                        ("kv", namespace_id),
                        lambda: KVNamespace.open(folder("kv", namespace_id), clock=clock, limits=limits.kv),
                    )
                case R2Spec(binding, bucket):
                    opened.by_name[binding] = await store(
                        ("r2", bucket), lambda: R2Bucket.open(folder("r2", bucket), clock=clock, limits=limits.r2)
                    )
                case SecretsStoreSpec(binding, store_id, secret_name):
                    shared = await store(
                        ("secrets-store", store_id),
                        lambda: KVNamespace.open(folder("secrets-store", store_id), clock=clock, limits=limits.kv),
                    )
                    opened.by_name[binding] = SecretsStoreSecret(shared, secret_name)
            opened.specs[spec.binding] = spec
    except BaseException:
        await opened.close(keep=[reuse] if reuse is not None else [])
        raise
    return opened


__all__ = [
    "BindingError",
    "BindingSpec",
    "Bindings",
    "Clock",
    "FakeClock",
    "KVSpec",
    "Limits",
    "R2Spec",
    "SecretsStoreSpec",
    "StorageError",
    "SystemClock",
    "open_bindings",
]
