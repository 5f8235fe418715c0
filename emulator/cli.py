"""The ``outbound`` command line: arguments, progress lines and exit codes. It decides nothing itself.

    outbound request [--config PATH | ENTRY] --sandbox ID [--class NAME] [-X METHOD] [-H 'k: v'] [-d BODY] URL
    outbound policy  [--config PATH | ENTRY] [--class NAME] ID METHOD [ARGS...]

Every command finds the Worker config as wrangler does (wrangler.json/.jsonc/.toml in the current folder or
its parents) unless given ``--config`` or an entry file. User errors print one line and exit 1; a refused
connection exits 7 and a connection closed without a reply 52, as curl does.
"""

from __future__ import annotations

import argparse
import asyncio
import http
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emulator.config import CONFIG_NAMES, ENTRY_SUFFIXES
from emulator.emulator import Emulator
from emulator.errors import SandboxConnectionError, UserError
from emulator.policy import RUNTIME_METHODS
from emulator.runtime.pool import Limits

EXIT_USER_ERROR = 1
EXIT_CONNECTION_CLOSED = 52  # curl: "Empty reply from server"

# How `outbound policy` reads each runtime method's arguments: "str" stays text, "json" is parsed.
_ARGUMENT_KINDS: dict[str, tuple[str, ...]] = {
    "setOutboundHandler": ("str", "json"),
    "setOutboundByHost": ("str", "str", "json"),
    "removeOutboundByHost": ("str",),
    "setOutboundByHosts": ("json",),
    "setAllowedHosts": ("json",),
    "setDeniedHosts": ("json",),
    "allowHost": ("str",),
    "denyHost": ("str",),
    "removeAllowedHost": ("str",),
    "removeDeniedHost": ("str",),
}


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


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="PATH", help="wrangler.jsonc / wrangler.json / wrangler.toml")
    parser.add_argument("--env", "-e", metavar="NAME", help="the wrangler environment to use")
    parser.add_argument(
        "--class",
        dest="cls",
        metavar="NAME",
        help="the sandbox's Container class (default: its known class, else the only one)",
    )
    parser.add_argument("--persist-to", metavar="DIR", help="where sandbox state lives (default: <project>/.outbound)")
    parser.add_argument(
        "--connect-to",
        action="append",
        default=[],
        metavar="HOST[:PORT]:ADDR:PORT",
        help="send connections for HOST[:PORT] to ADDR:PORT instead (repeatable), like curl's",
    )
    parser.add_argument("--cacert", metavar="FILE", help="also trust this CA for upstream TLS")
    parser.add_argument("--verbose", "-v", action="store_true", help="show debug output")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each subcommand's parser."""
    parser = argparse.ArgumentParser(prog="outbound", description="Run Cloudflare outbound Workers locally.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    request = commands.add_parser(
        "request",
        help="send one request as a sandbox and print the response like curl -i",
        description="Send one request through the handlers, as SANDBOX would.",
    )
    _common(request)
    request.add_argument("--sandbox", "-s", required=True, metavar="ID", help="the sandbox sending the request")
    request.add_argument("-X", "--request", dest="method", default=None, metavar="METHOD")
    request.add_argument("-H", "--header", dest="headers", action="append", default=[], metavar="'NAME: VALUE'")
    request.add_argument(
        "-d", "--data", dest="data", default=None, metavar="BODY", help="request body; @FILE reads it from a file"
    )
    request.add_argument("positionals", nargs="+", metavar="[ENTRY] URL")

    policy = commands.add_parser(
        "policy",
        help="apply a runtime method to a sandbox's persisted policy",
        description="Apply one of the ten runtime methods, e.g. "
        '`outbound policy agent-1 setOutboundHandler allowHosts \'{"allowedHostnames":["github.com"]}\'`.',
    )
    _common(policy)
    policy.add_argument("positionals", nargs="+", metavar="[ENTRY] ID METHOD [ARGS...]")
    return parser, {"request": request, "policy": policy}


def _looks_like_target(value: str) -> bool:
    path = Path(value)
    return path.exists() and (
        path.is_dir()
        or path.suffix in ENTRY_SUFFIXES
        or path.name in CONFIG_NAMES
        or path.suffix in (".json", ".jsonc", ".toml")
    )


def _split_target(args: argparse.Namespace, minimum: int) -> tuple[str | None, list[str]]:
    positionals: list[str] = list(args.positionals)
    target = args.config
    if len(positionals) > minimum and _looks_like_target(positionals[0]):
        if target is not None:
            raise UserError(f"give either --config or an entry file, not both ({args.config!r} and {positionals[0]!r})")
        target = positionals.pop(0)
    return target, positionals


def _connect_to(values: Sequence[str]) -> dict[str, str]:
    table: dict[str, str] = {}
    for value in values:
        parts = value.rsplit(":", 2)
        if len(parts) != 3 or not parts[2].isdigit():
            raise UserError(
                f"--connect-to {value!r}: expected HOST[:PORT]:ADDR:PORT, e.g. github.com:443:127.0.0.1:8443"
            )
        table[parts[0]] = f"{parts[1]}:{parts[2]}"
    return table


def _emulator(args: argparse.Namespace, target: str | None) -> Emulator:
    return Emulator.load(
        target,
        env=args.env,
        persist_to=args.persist_to,
        workers=1,
        limits=Limits(),
        connect_to=_connect_to(args.connect_to),
        upstream_ca=args.cacert,
    )


async def _request(args: argparse.Namespace) -> int:
    target, positionals = _split_target(args, 1)
    if len(positionals) != 1:
        raise UserError(f"expected one URL, got {' '.join(positionals)!r}")
    url = positionals[0]
    headers = []
    for header in args.headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise UserError(f"-H {header!r}: expected 'Name: value'")
        headers.append((name.strip(), value.strip()))
    body: bytes | None = None
    if args.data is not None:
        body = Path(args.data[1:]).read_bytes() if args.data.startswith("@") else args.data.encode()
    method = args.method or ("POST" if body is not None else "GET")
    async with _emulator(args, target) as emu:
        sandbox = emu.sandbox(args.sandbox, args.cls)
        response = await sandbox.fetch(url, method=method, headers=headers, body=body)
        live = await emu.registry.get(args.sandbox, args.cls)
    reason = response.reason or _phrase(response.status)
    out = sys.stdout.buffer
    out.write(f"HTTP/1.1 {response.status} {reason}".rstrip().encode() + b"\r\n")
    for name, value in response.headers:
        out.write(f"{name}: {value}\r\n".encode())
    out.write(b"\r\n" + response.body)
    out.flush()
    decision = response.decision
    handler = f" {decision.label}" if hasattr(decision, "label") else ""
    print(
        f"outbound: sandbox {args.sandbox} ({live.description.config.class_name}): {decision.step.value}{handler}"
        f" -> {response.status}",
        file=sys.stderr,
    )
    return 0


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _policy_arguments(method: str, raw: list[str]) -> tuple[Any, ...]:
    if method not in RUNTIME_METHODS:
        raise UserError(f"unknown runtime method {method!r}; use one of: {', '.join(RUNTIME_METHODS)}")
    kinds = _ARGUMENT_KINDS[method]
    if len(raw) > len(kinds):
        raise UserError(f"{method} takes at most {len(kinds)} argument(s), got {len(raw)}")
    values: list[Any] = []
    for kind, value in zip(kinds, raw, strict=False):
        if kind == "str":
            values.append(value)
            continue
        try:
            values.append(json.loads(value))
        except json.JSONDecodeError as error:
            raise UserError(
                f"{method}: {value!r} is not valid JSON ({error.msg}); quote it, e.g. '[\"github.com\"]'"
            ) from None
    return tuple(values)


async def _policy(args: argparse.Namespace) -> int:
    target, positionals = _split_target(args, 2)
    if len(positionals) < 2:
        raise UserError(
            "expected a sandbox id and a runtime method, e.g. `outbound policy agent-1 allowHost github.com`"
        )
    sandbox_id, method, *raw = positionals
    arguments = _policy_arguments(method, raw)
    async with _emulator(args, target) as emu:
        policy = await emu.registry.apply(sandbox_id, method, arguments, args.cls)
    print(json.dumps(policy.overrides.to_json(), indent=2))
    return 0


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    # Options may come after positionals (`outbound request ENTRY --sandbox s URL`), which needs intermixed
    # parsing; argparse offers that per subcommand only, so the subcommand's parser parses the rest.
    parser, commands = build_parser()
    if not argv or argv[0] not in commands:
        return parser.parse_args(argv)
    args = commands[argv[0]].parse_intermixed_args(argv[1:])
    args.command = argv[0]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else list(argv))
    _configure_logging(args.verbose)
    command = {"request": _request, "policy": _policy}[args.command]
    try:
        return asyncio.run(command(args))
    except UserError as error:
        print(f"outbound: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SandboxConnectionError as error:
        print(f"outbound: {error}", file=sys.stderr)
        return EXIT_CONNECTION_CLOSED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
