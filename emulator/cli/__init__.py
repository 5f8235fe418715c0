"""The ``outbound`` command line: arguments, progress lines and exit codes. It decides nothing itself.

    outbound request   one request as a sandbox, printed like curl -i          (cli/request.py)
    outbound policy    one runtime method on a sandbox's persisted policy      (cli/request.py)
    outbound kv        KV keys, as `wrangler kv key … --local`                  (cli/stores.py)
    outbound r2        R2 objects, as `wrangler r2 object … --local`            (cli/stores.py)
    outbound secrets-store   Secrets Store secrets                              (cli/stores.py)
    outbound dev / run / sandbox   a running emulator and its sandboxes        (cli/serve.py)
    outbound tail      follow the requests sandboxes make, as audited           (cli/tail.py)

Every command finds the Worker config as wrangler does (wrangler.json/.jsonc/.toml in the current folder or
its parents) unless given ``--config`` or an entry file. User errors print one line and exit 1; a connection
the sandbox would see closed exits 52, as curl does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bindings import BindingError
from emulator.cli import request, serve, stores, tail
from emulator.errors import SandboxConnectionError, UserError

EXIT_USER_ERROR = 1
EXIT_CONNECTION_CLOSED = 52  # curl: "Empty reply from server"


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.name == "outbound.console":
            return record.getMessage()
        level = {logging.WARNING: "warning: ", logging.ERROR: "error: "}.get(record.levelno, "")
        return f"outbound: {level}{record.getMessage()}"


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("outbound")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def build_parser() -> tuple[argparse.ArgumentParser, dict[tuple[str, ...], argparse.ArgumentParser]]:
    """The top-level parser and every leaf command's parser, keyed by the words that select it."""
    parser = argparse.ArgumentParser(prog="outbound", description="Run Cloudflare outbound Workers locally.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    leaves = request.register(commands)
    leaves.update(serve.register(commands))
    leaves.update(stores.register(commands))
    leaves.update(tail.register(commands))
    return parser, leaves


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    # Options may come after positionals (`outbound request ENTRY --sandbox s URL`), which needs intermixed
    # parsing; argparse offers that for a parser without subcommands only, so the leaf command parses the rest.
    # Everything after `--` is a command to run (`outbound run --sandbox s -- curl …`), never parsed.
    argv = list(argv)
    command_argv: list[str] | None = None
    if "--" in argv:
        split = argv.index("--")
        argv, command_argv = argv[:split], argv[split + 1 :]
    parser, leaves = build_parser()
    for length in (3, 2, 1):
        words = tuple(argv[:length])
        if words in leaves:
            args = leaves[words].parse_intermixed_args(argv[length:])
            if command_argv is not None:
                args.command_argv = command_argv
            return args
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else list(argv))
    _configure_logging(args.verbose)
    try:
        return int(asyncio.run(args.run(args)))
    except (UserError, BindingError) as error:
        print(f"outbound: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SandboxConnectionError as error:
        print(f"outbound: {error}", file=sys.stderr)
        return EXIT_CONNECTION_CLOSED
    except KeyboardInterrupt:
        return 130
