"""What every ``outbound`` command shares: the project options, finding the target, building an Emulator."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

from emulator.config import CONFIG_NAMES, ENTRY_SUFFIXES, WorkerConfig, resolve_config
from emulator.emulator import STATE_FOLDER, Emulator
from emulator.errors import UserError
from emulator.runtime.pool import Limits

# The leaf commands a module registers, keyed by the words that select each (("kv", "put"), …).
Leaves = dict[tuple[str, ...], argparse.ArgumentParser]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_project_options(parser: argparse.ArgumentParser, *, sandbox_options: bool = True) -> None:
    parser.add_argument("--config", "-c", metavar="PATH", help="wrangler.jsonc / wrangler.json / wrangler.toml")
    parser.add_argument("--env", "-e", metavar="NAME", help="the wrangler environment to use")
    parser.add_argument("--persist-to", metavar="DIR", help=f"where state lives (default: <project>/{STATE_FOLDER})")
    parser.add_argument("--verbose", "-v", action="store_true", help="show debug output")
    if not sandbox_options:
        return
    parser.add_argument(
        "--class",
        dest="cls",
        metavar="NAME",
        help="the sandbox's Container class (default: its known class, else the only one)",
    )
    parser.add_argument(
        "--connect-to",
        action="append",
        default=[],
        metavar="HOST[:PORT]:ADDR:PORT",
        help="send connections for HOST[:PORT] to ADDR:PORT instead (repeatable), like curl's",
    )
    parser.add_argument("--cacert", metavar="FILE", help="also trust this CA for upstream TLS")


def looks_like_target(value: str) -> bool:
    path = Path(value)
    return path.exists() and (
        path.is_dir()
        or path.suffix in ENTRY_SUFFIXES
        or path.name in CONFIG_NAMES
        or path.suffix in (".json", ".jsonc", ".toml")
    )


def split_target(args: argparse.Namespace, minimum: int) -> tuple[str | None, list[str]]:
    """The project (``--config`` or a leading ENTRY positional) and the remaining positionals."""
    positionals: list[str] = list(args.positionals)
    target = args.config
    if len(positionals) > minimum and looks_like_target(positionals[0]):
        if target is not None:
            raise UserError(f"give either --config or an entry file, not both ({args.config!r} and {positionals[0]!r})")
        target = positionals.pop(0)
    return target, positionals


def connect_to(values: Sequence[str]) -> dict[str, str]:
    table: dict[str, str] = {}
    for value in values:
        parts = value.rsplit(":", 2)
        if len(parts) != 3 or not parts[2].isdigit():
            raise UserError(
                f"--connect-to {value!r}: expected HOST[:PORT]:ADDR:PORT, e.g. github.com:443:127.0.0.1:8443"
            )
        table[parts[0]] = f"{parts[1]}:{parts[2]}"
    return table


def emulator(args: argparse.Namespace, target: str | None) -> Emulator:
    return Emulator.load(
        target,
        env=args.env,
        persist_to=args.persist_to,
        workers=1,
        limits=Limits(),
        connect_to=connect_to(args.connect_to),
        upstream_ca=args.cacert,
    )


def project(args: argparse.Namespace) -> tuple[WorkerConfig, Path]:
    """The Worker config and its state folder, for commands that touch stores without running handlers."""
    config = resolve_config(args.config, cwd=Path.cwd(), env=args.env)
    folder = Path(args.persist_to) if args.persist_to else config.root / STATE_FOLDER
    return config, folder
