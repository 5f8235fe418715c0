"""``outbound request`` and ``outbound policy``: one request as a sandbox, one runtime method on its policy.

outbound request [--config PATH | ENTRY] --sandbox ID [--class NAME] [-X METHOD] [-H 'k: v'] [-d BODY] URL
outbound policy  [--config PATH | ENTRY] [--class NAME] ID METHOD [ARGS...]
"""

from __future__ import annotations

import argparse
import http
import json
import sys
from pathlib import Path
from typing import Any

from emulator.cli.common import add_project_options, emulator, split_target
from emulator.client import RemoteEmulator
from emulator.errors import UserError
from emulator.policy import RUNTIME_METHODS

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


async def run_request(args: argparse.Namespace) -> int:
    target, positionals = split_target(args, 1)
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
    async with emulator(args, target) as emu:
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


async def run_policy(args: argparse.Namespace) -> int:
    target, positionals = split_target(args, 2)
    if len(positionals) < 2:
        raise UserError(
            "expected a sandbox id and a runtime method, e.g. `outbound policy agent-1 allowHost github.com`"
        )
    sandbox_id, method, *raw = positionals
    arguments = _policy_arguments(method, raw)
    running = running_emulator(target, args.persist_to)
    if running is not None:
        # An emulator serves this project: change its live policy (it persists the change itself).
        async with running:
            overrides = await running.sandbox(sandbox_id).apply(method, *arguments, cls=args.cls)
        print(json.dumps(overrides, indent=2))
        return 0
    async with emulator(args, target) as emu:
        policy = await emu.registry.apply(sandbox_id, method, arguments, args.cls)
    print(json.dumps(policy.overrides.to_json(), indent=2))
    return 0


def running_emulator(target: str | None, persist_to: str | None) -> RemoteEmulator | None:
    """The emulator running for this project, if one is."""
    try:
        return RemoteEmulator.connect(target, persist_to=persist_to)
    except UserError:
        return None


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    request = commands.add_parser(
        "request",
        help="send one request as a sandbox and print the response like curl -i",
        description="Send one request through the handlers, as SANDBOX would.",
    )
    add_project_options(request)
    request.add_argument("--sandbox", "-s", required=True, metavar="ID", help="the sandbox sending the request")
    request.add_argument("-X", "--request", dest="method", default=None, metavar="METHOD")
    request.add_argument("-H", "--header", dest="headers", action="append", default=[], metavar="'NAME: VALUE'")
    request.add_argument(
        "-d", "--data", dest="data", default=None, metavar="BODY", help="request body; @FILE reads it from a file"
    )
    request.add_argument("positionals", nargs="+", metavar="[ENTRY] URL")
    request.set_defaults(run=run_request)

    policy = commands.add_parser(
        "policy",
        help="apply a runtime method to a sandbox's persisted policy",
        description="Apply one of the ten runtime methods, e.g. "
        '`outbound policy agent-1 setOutboundHandler allowHosts \'{"allowedHostnames":["github.com"]}\'`.',
    )
    add_project_options(policy)
    policy.add_argument("positionals", nargs="+", metavar="[ENTRY] ID METHOD [ARGS...]")
    policy.set_defaults(run=run_policy)
    return {("request",): request, ("policy",): policy}
