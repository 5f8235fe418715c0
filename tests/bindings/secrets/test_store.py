"""Secrets Store state in Python: kept in KV namespaces on disk, per store, as Miniflare keeps it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bindings import BindingError, BindingSpec, SecretsStoreSpec, open_bindings
from bindings.kv import KVNamespace
from bindings.secrets import (
    MAX_SECRET_VALUE_BYTES,
    SecretsKV,
    SecretsStoreSecret,
    delete_secret,
    list_secrets,
    put_secret,
)

UUID_HEX = re.compile(r"[0-9a-f]{32}")  # Miniflare: crypto.randomUUID().replaceAll("-", "")


async def missing(secret: SecretsStoreSecret) -> tuple[str, str]:
    with pytest.raises(BindingError) as caught:
        await secret.get()
    return caught.value.js_name, str(caught.value)


async def test_secrets_persist_across_reopening_and_keep_their_id_when_replaced(tmp_path: Path) -> None:
    specs: list[BindingSpec] = [SecretsStoreSpec("API_KEY", "store-1", "api-key")]
    bindings = await open_bindings(specs, tmp_path)
    try:
        secret_id = await put_secret(bindings["API_KEY"].store, "api-key", "v1 ✓")
        assert UUID_HEX.fullmatch(secret_id)
    finally:
        await bindings.close()

    bindings = await open_bindings(specs, tmp_path)
    try:
        secret = bindings["API_KEY"]
        assert await secret.get() == "v1 ✓"
        assert await put_secret(secret.store, "api-key", "v2") == secret_id
        assert await secret.get() == "v2"
        assert await list_secrets(secret.store) == ["api-key"]
    finally:
        await bindings.close()


async def test_a_store_is_a_kv_namespace_keyed_by_secret_name_with_its_uuid_as_metadata(tmp_path: Path) -> None:
    bindings = await open_bindings([SecretsStoreSpec("API_KEY", "store-1", "api-key")], tmp_path)
    try:
        secret_id = await put_secret(bindings["API_KEY"].store, "api-key", "value")
    finally:
        await bindings.close()
    kv = await KVNamespace.open(tmp_path / "secrets-store" / "store-1")
    try:
        entry = await kv.get("api-key")
        assert entry is not None
        assert (entry.value, entry.metadata) == (b"value", {"uuid": secret_id})
        store: SecretsKV = kv  # mypy: KVNamespace is what bindings.secrets expects of a store
        assert await SecretsStoreSecret(store, "api-key").get() == "value"
    finally:
        await kv.close()


async def test_stores_are_isolated_and_bindings_on_one_store_share_it(tmp_path: Path) -> None:
    # Miniflare test/plugins/secret-store/index.spec.ts "multiple secret-store"
    specs: list[BindingSpec] = [
        SecretsStoreSpec("SECRET1", "store-1", "secret_name_a"),
        SecretsStoreSpec("SECRET2", "store-1", "secret_name_b"),  # same store, another name
        SecretsStoreSpec("SECRET3", "store-2", "secret_name_a"),  # another store, the same name
    ]
    bindings = await open_bindings(specs, tmp_path)
    try:
        one, two, three = (bindings[name] for name in ("SECRET1", "SECRET2", "SECRET3"))
        assert one.store is two.store and one.store is not three.store
        for secret in (one, two, three):
            assert await missing(secret) == ("Error", f'Secret "{secret.secret_name}" not found')

        await put_secret(one.store, "secret_name_a", "example_a")
        await put_secret(two.store, "secret_name_b", "example_b")
        assert [await one.get(), await two.get()] == ["example_a", "example_b"]
        assert await missing(three) == ("Error", 'Secret "secret_name_a" not found')

        await put_secret(three.store, "secret_name_a", "example_c")
        assert [await one.get(), await two.get(), await three.get()] == ["example_a", "example_b", "example_c"]
    finally:
        await bindings.close()
    assert sorted(p.name for p in (tmp_path / "secrets-store").iterdir()) == ["store-1", "store-2"]


async def test_delete_and_list_for_the_cli(tmp_path: Path) -> None:
    bindings = await open_bindings([SecretsStoreSpec("S", "store-1", "b")], None)
    try:
        store = bindings["S"].store
        ids = {name: await put_secret(store, name, f"value of {name}") for name in ("e", "b", "d", "a", "c")}
        listed = await list_secrets(store, page_size=2)  # three pages
        assert listed == ["a", "b", "c", "d", "e"]
        assert len(set(ids.values())) == 5

        assert await delete_secret(store, "b") is True
        assert await delete_secret(store, "b") is False
        assert await missing(bindings["S"]) == ("Error", 'Secret "b" not found')
        assert await list_secrets(store) == ["a", "c", "d", "e"]
        assert await put_secret(store, "b", "back") != ids["b"]  # a new secret, a new id
    finally:
        await bindings.close()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("has space", "v", "Secret name may only contain alphanumeric characters, underscores, or dashes."),
        ("", "v", "Secret name may only contain alphanumeric characters, underscores, or dashes."),
        ("dot.ted", "v", "Secret name may only contain alphanumeric characters, underscores, or dashes."),
        (
            "big",
            "é" * (MAX_SECRET_VALUE_BYTES // 2) + "x",
            "Secret value cannot exceed 65536 bytes (got 65537). The Cloudflare API rejects longer values, and a "
            "binding to such a secret will fail at deploy time.",
        ),
    ],
)
async def test_put_refuses_what_wrangler_refuses(name: str, value: str, message: str) -> None:
    bindings = await open_bindings([SecretsStoreSpec("S", "store-1", "s")], None)
    try:
        with pytest.raises(ValueError) as caught:
            await put_secret(bindings["S"].store, name, value)
        assert str(caught.value) == message
        assert await list_secrets(bindings["S"].store) == []
    finally:
        await bindings.close()


async def test_accepts_names_wrangler_accepts_and_never_shows_values() -> None:
    bindings = await open_bindings([SecretsStoreSpec("S", "store-1", "Aa0-_")], None)
    try:
        secret = bindings["S"]
        await put_secret(secret.store, "Aa0-_", "hunter2")
        assert await secret.get() == "hunter2"
        assert "hunter2" not in repr(secret)
    finally:
        await bindings.close()
