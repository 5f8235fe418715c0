"""Seed and inspect local KV, R2 and Secrets Store state, shaped like wrangler's ``--local`` commands.

    outbound kv [key] put    [--binding B | --namespace-id ID] KEY [VALUE] [--path FILE] [--metadata JSON]
                             [--expiration SECONDS] [--ttl SECONDS]
    outbound kv [key] get    [--binding B | --namespace-id ID] KEY          (the value, raw, on stdout)
    outbound kv [key] list   [--binding B | --namespace-id ID] [--prefix P] (JSON, as wrangler prints it)
    outbound kv [key] delete [--binding B | --namespace-id ID] KEY
    outbound r2 [object] put|get|delete BUCKET/KEY [--file PATH | --pipe] [--content-type TYPE]
    outbound secrets-store put|delete --binding B [VALUE]   /   outbound secrets-store list --binding B

They open the stores the emulator uses (``<project>/.outbound``, or ``--persist-to``) without running any
handler, and work beside a running emulator: SQLite serialises the writers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bindings import Bindings, BindingSpec, KVSpec, R2Spec, SecretsStoreSpec, open_bindings
from bindings.r2 import R2HTTPMetadata
from emulator.cli.common import Commands, Leaves, add_project_options, project
from emulator.config import WorkerConfig
from emulator.errors import UserError
from emulator.runtime.env import binding_specs

READ_CHUNK_BYTES = 1 << 20


class _Opened:
    """The one binding a command works on, opened for the duration of the command."""

    def __init__(self, spec: BindingSpec, folder: Path) -> None:
        self.spec = spec
        self.folder = folder
        self.bindings: Bindings | None = None

    async def __aenter__(self) -> Any:
        self.bindings = await open_bindings([self.spec], self.folder)
        return self.bindings[self.spec.binding]

    async def __aexit__(self, *exc: object) -> None:
        if self.bindings is not None:
            await self.bindings.close()


def _choose(config: WorkerConfig, kind: type, wanted: str | None, label: str, option: str) -> BindingSpec:
    specs = [spec for spec in binding_specs(config) if isinstance(spec, kind)]
    where = config.path.name if config.path else "the config"
    if wanted is None:
        if len(specs) == 1:
            return specs[0]
        if not specs:
            raise UserError(f"{where} declares no {label} bindings; add one or pass {option}")
        names = ", ".join(spec.binding for spec in specs)
        raise UserError(f"{where} declares several {label} bindings ({names}); say which with --binding")
    for spec in specs:
        if spec.binding == wanted:
            return spec
    names = ", ".join(spec.binding for spec in specs) or "none"
    raise UserError(f"no {label} binding named {wanted!r} in {where}; {label} bindings: {names}")


# -- KV ------------------------------------------------------------------------------------------------------


def _kv_spec(args: argparse.Namespace, config: WorkerConfig) -> BindingSpec:
    if args.namespace_id:
        return KVSpec("CLI", args.namespace_id)
    return _choose(config, KVSpec, args.binding, "KV namespace", "--namespace-id ID")


async def kv_put(args: argparse.Namespace) -> int:
    config, folder = project(args)
    if (args.value is None) == (args.path is None):
        raise UserError("give the value either as an argument or with --path FILE, not both or neither")
    value = Path(args.path).read_bytes() if args.path else args.value.encode()
    metadata = _json_option("--metadata", args.metadata)
    async with _Opened(_kv_spec(args, config), folder) as kv:
        await kv.put(args.key, value, expiration=args.expiration, expiration_ttl=args.ttl, metadata=metadata)
    print(f"Writing the value to key {args.key!r} (local state in {folder}).", file=sys.stderr)
    return 0


async def kv_get(args: argparse.Namespace) -> int:
    config, folder = project(args)
    async with _Opened(_kv_spec(args, config), folder) as kv:
        entry = await kv.get(args.key)
    if entry is None:
        print("Value not found", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(entry.value)
    sys.stdout.buffer.flush()
    return 0


async def kv_list(args: argparse.Namespace) -> int:
    config, folder = project(args)
    keys: list[dict[str, Any]] = []
    async with _Opened(_kv_spec(args, config), folder) as kv:
        cursor = None
        while True:
            page = await kv.list(prefix=args.prefix, cursor=cursor)
            for key in page.keys:
                item: dict[str, Any] = {"name": key.name}
                if key.expiration is not None:
                    item["expiration"] = key.expiration
                if key.metadata is not None:
                    item["metadata"] = key.metadata
                keys.append(item)
            if page.list_complete:
                break
            cursor = page.cursor
    print(json.dumps(keys, indent=2))
    return 0


async def kv_delete(args: argparse.Namespace) -> int:
    config, folder = project(args)
    async with _Opened(_kv_spec(args, config), folder) as kv:
        await kv.delete(args.key)
    print(f"Deleted key {args.key!r}.", file=sys.stderr)
    return 0


# -- R2 ------------------------------------------------------------------------------------------------------


def _r2_target(args: argparse.Namespace, config: WorkerConfig) -> tuple[R2Spec, str]:
    bucket, sep, key = args.object.partition("/")
    if not sep or not bucket:
        raise UserError(f"{args.object!r}: name the object as BUCKET/KEY, e.g. my-bucket/path/to/file.txt")
    specs = [spec for spec in binding_specs(config) if isinstance(spec, R2Spec)]
    for spec in specs:
        if spec.bucket_name == bucket:
            return spec, key
    names = ", ".join(spec.bucket_name for spec in specs) or "none"
    where = config.path.name if config.path else "the config"
    raise UserError(f"no R2 bucket named {bucket!r} in {where}; buckets: {names}")


async def r2_put(args: argparse.Namespace) -> int:
    config, folder = project(args)
    spec, key = _r2_target(args, config)
    if (args.file is None) == (not args.pipe):
        raise UserError("give the object's content with --file PATH or --pipe (stdin), one of them")
    http_metadata = R2HTTPMetadata(content_type=args.content_type) if args.content_type else None
    size = _file_size(Path(args.file)) if args.file else None
    async with _Opened(spec, folder) as bucket:
        source = _file_chunks(Path(args.file)) if args.file else _stdin_chunks()
        result = await bucket.put(key, source, size=size, http_metadata=http_metadata)
    print(f"Uploaded {spec.bucket_name}/{key} ({result.size} bytes, etag {result.etag}).", file=sys.stderr)
    return 0


async def r2_get(args: argparse.Namespace) -> int:
    config, folder = project(args)
    spec, key = _r2_target(args, config)
    async with _Opened(spec, folder) as bucket:
        found = await bucket.get(key)
        if found is None:
            raise UserError(f"the object {spec.bucket_name}/{key} does not exist")
        out = open(args.file, "wb") if args.file else sys.stdout.buffer  # noqa: SIM115 - closed below
        try:
            async for chunk in found.body:
                out.write(chunk)
        finally:
            if args.file:
                out.close()
            else:
                out.flush()
    return 0


async def r2_delete(args: argparse.Namespace) -> int:
    config, folder = project(args)
    spec, key = _r2_target(args, config)
    async with _Opened(spec, folder) as bucket:
        await bucket.delete(key)
    print(f"Deleted {spec.bucket_name}/{key}.", file=sys.stderr)
    return 0


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from error


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    try:
        with open(path, "rb") as file:
            while chunk := file.read(READ_CHUNK_BYTES):
                yield chunk
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from error


async def _stdin_chunks() -> AsyncIterator[bytes]:
    while chunk := sys.stdin.buffer.read(READ_CHUNK_BYTES):
        yield chunk


# -- Secrets Store -------------------------------------------------------------------------------------------


async def secret_put(args: argparse.Namespace) -> int:
    from bindings.secrets import put_secret  # noqa: PLC0415

    config, folder = project(args)
    spec = _choose(config, SecretsStoreSpec, args.binding, "Secrets Store", "--binding")
    assert isinstance(spec, SecretsStoreSpec)
    value = args.value if args.value is not None else sys.stdin.readline().rstrip("\n")
    async with _Opened(spec, folder) as secret:
        try:
            await put_secret(secret.store, spec.secret_name, value)
        except ValueError as error:
            raise UserError(str(error)) from None
    print(f"Stored secret {spec.secret_name!r} in store {spec.store_id!r}.", file=sys.stderr)
    return 0


async def secret_delete(args: argparse.Namespace) -> int:
    from bindings.secrets import delete_secret  # noqa: PLC0415

    config, folder = project(args)
    spec = _choose(config, SecretsStoreSpec, args.binding, "Secrets Store", "--binding")
    assert isinstance(spec, SecretsStoreSpec)
    async with _Opened(spec, folder) as secret:
        existed = await delete_secret(secret.store, spec.secret_name)
    if not existed:
        raise UserError(f"store {spec.store_id!r} has no secret {spec.secret_name!r}")
    print(f"Deleted secret {spec.secret_name!r} from store {spec.store_id!r}.", file=sys.stderr)
    return 0


async def secret_list(args: argparse.Namespace) -> int:
    from bindings.secrets import list_secrets  # noqa: PLC0415

    config, folder = project(args)
    spec = _choose(config, SecretsStoreSpec, args.binding, "Secrets Store", "--binding")
    async with _Opened(spec, folder) as secret:
        names = await list_secrets(secret.store)
    print(json.dumps(names, indent=2))  # names only: values never leave the store this way
    return 0


def _json_option(option: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise UserError(f"{option} {value!r} is not valid JSON ({error.msg})") from None


# -- parsers -------------------------------------------------------------------------------------------------


def register(commands: Commands) -> Leaves:
    leaves: Leaves = {}
    kv = commands.add_parser("kv", help="read and write local KV namespaces")
    kv_commands = kv.add_subparsers(dest="kv_command", required=True, metavar="COMMAND")
    for name, run, help_text in (
        ("put", kv_put, "write a key"),
        ("get", kv_get, "print a key's value"),
        ("list", kv_list, "list keys as JSON"),
        ("delete", kv_delete, "delete a key"),
    ):
        parser = kv_commands.add_parser(name, help=help_text)
        add_project_options(parser, sandbox_options=False)
        parser.add_argument("--binding", metavar="NAME", help="the KV binding (default: the only one)")
        parser.add_argument("--namespace-id", metavar="ID", help="a namespace id instead of a binding")
        parser.add_argument("--local", action="store_true", help="accepted for wrangler compatibility")
        if name in ("put", "get", "delete"):
            parser.add_argument("key", metavar="KEY")
        if name == "put":
            parser.add_argument("value", nargs="?", metavar="VALUE")
            parser.add_argument("--path", metavar="FILE", help="read the value from FILE")
            parser.add_argument("--metadata", metavar="JSON", help="metadata to store with the key")
            parser.add_argument("--expiration", type=int, metavar="SECONDS", help="expire at this UNIX time")
            parser.add_argument("--ttl", type=int, metavar="SECONDS", help="expire this many seconds from now")
        if name == "list":
            parser.add_argument("--prefix", metavar="PREFIX")
        parser.set_defaults(run=run)
        leaves[("kv", name)] = leaves[("kv", "key", name)] = parser

    r2 = commands.add_parser("r2", help="read and write local R2 buckets")
    r2_commands = r2.add_subparsers(dest="r2_command", required=True, metavar="COMMAND")
    for name, run, help_text in (
        ("put", r2_put, "upload an object"),
        ("get", r2_get, "download an object"),
        ("delete", r2_delete, "delete an object"),
    ):
        parser = r2_commands.add_parser(name, help=help_text)
        add_project_options(parser, sandbox_options=False)
        parser.add_argument("object", metavar="BUCKET/KEY")
        parser.add_argument("--local", action="store_true", help="accepted for wrangler compatibility")
        if name in ("put", "get"):
            parser.add_argument("--file", "-f", metavar="PATH")
            parser.add_argument("--pipe", "-p", action="store_true", help="stdin (put) or stdout (get)")
        if name == "put":
            parser.add_argument("--content-type", "--ct", metavar="TYPE")
        parser.set_defaults(run=run)
        leaves[("r2", name)] = leaves[("r2", "object", name)] = parser

    store = commands.add_parser("secrets-store", help="set and remove local Secrets Store secrets")
    store_commands = store.add_subparsers(dest="store_command", required=True, metavar="COMMAND")
    for name, run, help_text in (
        ("put", secret_put, "store the binding's secret (VALUE, or a line from stdin)"),
        ("delete", secret_delete, "remove the binding's secret"),
        ("list", secret_list, "list the secret names in the binding's store"),
    ):
        parser = store_commands.add_parser(name, help=help_text)
        add_project_options(parser, sandbox_options=False)
        parser.add_argument("--binding", metavar="NAME", help="the secrets_store_secrets binding")
        if name == "put":
            parser.add_argument("value", nargs="?", metavar="VALUE")
        parser.set_defaults(run=run)
        leaves[("secrets-store", name)] = leaves[("secrets-store", "secret", name)] = parser
    return leaves
