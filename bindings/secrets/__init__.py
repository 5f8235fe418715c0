"""Secrets a handler reads: plain Worker secrets and Secrets Store bindings (contract §4.3).

Plain secrets (``wrangler secret put``; locally ``.dev.vars`` or ``.env``) are strings on ``env``:
``emulator/config.py`` reads them into ``WorkerConfig.secrets`` and the runtime puts them on ``env`` as they
are, so nothing here stores them.

A Secrets Store binding (wrangler ``secrets_store_secrets: [{binding, store_id, secret_name}]``) is a
``SecretsStoreSecret``: one secret name in one store, read with ``await env.<binding>.get()``, which returns
the value or throws ``Error: Secret "<secret_name>" not found``. Stores are KV namespaces (``store.py``), so
bindings that share a store id share values, and a value written between two ``get()`` calls is what the
second one returns.
"""

from __future__ import annotations

from bindings.errors import BindingError
from bindings.secrets.store import (
    MAX_SECRET_VALUE_BYTES,
    SecretsKV,
    delete_secret,
    list_secrets,
    put_secret,
    validate_secret,
)


def secret_not_found(secret_name: str) -> str:
    # Miniflare src/workers/secrets-store/secret.worker.ts: `throw new Error(...)`, a plain Error.
    return f'Secret "{secret_name}" not found'


class SecretsStoreSecret:
    """``env.<binding>`` for one ``secrets_store_secrets`` entry: ``secret_name`` in the store ``store``."""

    def __init__(self, store: SecretsKV, secret_name: str) -> None:
        self.store = store
        self.secret_name = secret_name

    async def get(self) -> str:
        """The secret's value; ``BindingError`` (a JS ``Error``) with Miniflare's text if it is not set."""
        entry = await self.store.get(self.secret_name)
        if entry is None:
            raise BindingError(secret_not_found(self.secret_name))
        # KV's get(key, "text"): UTF-8, with U+FFFD for bytes that do not decode (TextDecoder, not fatal).
        return entry.value.decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"SecretsStoreSecret(secret_name={self.secret_name!r})"


__all__ = [
    "MAX_SECRET_VALUE_BYTES",
    "SecretsKV",
    "SecretsStoreSecret",
    "delete_secret",
    "list_secrets",
    "put_secret",
    "secret_not_found",
    "validate_secret",
]
