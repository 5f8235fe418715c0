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
    stores: list[Any] = field(default_factory=list)  # what owns files and connections: closed once each

    def __getitem__(self, name: str) -> Any:
        return self.by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    async def close(self) -> None:
        for store in self.stores:
            await store.close()
        self.stores.clear()
        self.by_name.clear()


async def open_bindings(
    specs: list[BindingSpec] | tuple[BindingSpec, ...],
    persist_dir: Path | None,
    *,
    clock: Clock | None = None,
    limits: Limits = Limits(),
) -> Bindings:
    """Open every binding in ``specs``; ``persist_dir=None`` keeps all state in memory and temp files.

    Bindings that name the same namespace, bucket or secrets store share one store.
    """
    from bindings.kv import KVNamespace  # noqa: PLC0415 - keeps `import bindings` light
    from bindings.r2 import R2Bucket  # noqa: PLC0415
    from bindings.secrets import SecretsStoreSecret  # noqa: PLC0415

    clock = clock or SystemClock()
    opened = Bindings()
    shared: dict[tuple[str, str], Any] = {}
    try:
        for spec in specs:
            match spec:
                case KVSpec(binding, namespace_id):
                    key = ("kv", namespace_id)
                    if key not in shared:
                        folder = persist_dir / "kv" / namespace_id if persist_dir else None
                        shared[key] = await KVNamespace.open(folder, clock=clock, limits=limits.kv)
                    opened.by_name[binding] = shared[key]
                case R2Spec(binding, bucket):
                    key = ("r2", bucket)
                    if key not in shared:
                        folder = persist_dir / "r2" / bucket if persist_dir else None
                        shared[key] = await R2Bucket.open(folder, clock=clock, limits=limits.r2)
                    opened.by_name[binding] = shared[key]
                case SecretsStoreSpec(binding, store_id, secret_name):
                    key = ("secrets-store", store_id)
                    if key not in shared:
                        folder = persist_dir / "secrets-store" / store_id if persist_dir else None
                        shared[key] = await KVNamespace.open(folder, clock=clock, limits=limits.kv)
                    opened.by_name[binding] = SecretsStoreSecret(shared[key], secret_name)
            opened.specs[spec.binding] = spec
    except BaseException:
        for store in shared.values():
            await store.close()
        raise
    opened.stores = list(shared.values())
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
