"""A Secrets Store kept in a KV namespace, as Miniflare keeps it: no storage format of its own.

Each store id gets one KV namespace (``open_bindings`` opens ``<persist>/secrets-store/<store_id>``). A secret
is one entry: the key is the secret's name, the value its UTF-8 text, the metadata ``{"uuid": <id>}`` with the
id Cloudflare's API and ``wrangler secrets-store secret list`` show (Miniflare's
``src/workers/secrets-store/secret.worker.ts``, ``ADMIN_API.create``: a random UUID without dashes).

Reads go through ``SecretsStoreSecret.get()``; this module is the writing side, for test seeding and the CLI
(what ``wrangler secrets-store secret create/delete/list`` do locally). Values never appear in messages.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

# wrangler src/secrets-store/commands.ts validateSecretName: the JS class `[A-z0-9-_]` also admits the six
# characters between "Z" and "a" ([ \ ] ^ _ `), so this keeps the range as wrangler wrote it.
SECRET_NAME_PATTERN = re.compile(r"[A-z0-9\-_]+")
INVALID_SECRET_NAME = "Secret name may only contain alphanumeric characters, underscores, or dashes."
# wrangler src/secrets-store/commands.ts MAX_SECRET_VALUE_BYTES: the Cloudflare API rejects longer values.
MAX_SECRET_VALUE_BYTES = 64 * 1024
KV_LIST_MAX_KEYS = 1000  # contract §4.1: the most keys one KV list() returns


class KVEntry(Protocol):
    """What a KV namespace's ``get`` returns for a present key."""

    @property
    def value(self) -> bytes: ...

    @property
    def metadata(self) -> Any: ...


class KVListKey(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def metadata(self) -> Any: ...


class KVListResult(Protocol):
    @property
    def keys(self) -> Sequence[KVListKey]: ...

    @property
    def list_complete(self) -> bool: ...

    @property
    def cursor(self) -> str | None: ...


class SecretsKV(Protocol):
    """The part of ``bindings.kv.KVNamespace`` a Secrets Store uses."""

    async def get(self, key: str) -> KVEntry | None: ...

    async def put(self, key: str, value: bytes, *, metadata: Any = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def list(self, *, prefix: str = ..., limit: int = ..., cursor: str | None = ...) -> KVListResult: ...


def validate_secret(name: str, value: str) -> None:
    """Raise ``ValueError`` with wrangler's text if ``secrets-store secret create`` would refuse these."""
    if not SECRET_NAME_PATTERN.fullmatch(name):
        raise ValueError(INVALID_SECRET_NAME)
    size = len(value.encode("utf-8"))
    if size > MAX_SECRET_VALUE_BYTES:
        raise ValueError(
            f"Secret value cannot exceed {MAX_SECRET_VALUE_BYTES} bytes (got {size}). The Cloudflare API rejects"
            " longer values, and a binding to such a secret will fail at deploy time."
        )


async def put_secret(store: SecretsKV, name: str, value: str) -> str:
    """Create or replace the secret ``name`` and return its id.

    A new secret gets a new id (Miniflare's ``create``); replacing a value keeps the secret's id, as
    ``wrangler secrets-store secret update`` does. Raises ``ValueError`` for names or values wrangler refuses.
    """
    validate_secret(name, value)
    existing = await store.get(name)
    secret_id = _secret_id(existing.metadata) if existing is not None else None
    secret_id = secret_id or uuid.uuid4().hex
    await store.put(name, value.encode("utf-8"), metadata={"uuid": secret_id})
    return secret_id


async def delete_secret(store: SecretsKV, name: str) -> bool:
    """Delete the secret ``name``; False if the store had no such secret."""
    if await store.get(name) is None:
        return False
    await store.delete(name)
    return True


async def list_secrets(store: SecretsKV, *, page_size: int = KV_LIST_MAX_KEYS) -> list[str]:
    """The names of every secret in the store, in KV's order (by UTF-8 bytes); values are not read.

    Reads every page (Miniflare's ``list`` stops after KV's first 1000 keys).
    """
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.list(prefix="", limit=page_size, cursor=cursor)
        names += [key.name for key in page.keys]
        if page.list_complete or not page.cursor:
            return names
        cursor = page.cursor


def _secret_id(metadata: Any) -> str | None:
    uuid_value = metadata.get("uuid") if isinstance(metadata, dict) else None
    return uuid_value if isinstance(uuid_value, str) else None
