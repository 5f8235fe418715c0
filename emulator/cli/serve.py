"""``outbound dev``, ``outbound run`` and ``outbound sandbox``: a running emulator and the sandboxes it serves.

outbound dev [PROJECT] [--capture auto|namespace|explicit] [--ip IP] [--port PORT] [--no-watch]
             [--no-log-requests]                serve until Ctrl-C, reloading on changes, a line per request
outbound run --sandbox ID [--class NAME] [PROJECT] -- COMMAND [ARGS...]
outbound sandbox list | create ID [--class NAME] | delete ID | ca ID
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from emulator.cli.common import Commands, Leaves, add_project_options, connect_to, split_target
from emulator.cli.tail import print_records
from emulator.client import RemoteEmulator
from emulator.config import DEFAULT_DEV_PORT
from emulator.emulator import Emulator
from emulator.entry import WorkerAddress
from emulator.errors import UserError
from emulator.runtime.pool import Limits
from emulator.shell import INHERITED_VARIABLES


async def run_dev(args: argparse.Namespace) -> int:
    from emulator.addons.deadlines import ConnectionLimits  # noqa: PLC0415 - mitmproxy loads only for this command
    from emulator.server import Server  # noqa: PLC0415 - mitmproxy loads only for this command
    from emulator.watch import Watcher  # noqa: PLC0415 - and watchfiles

    target, rest = split_target(args, 0)
    if rest:
        target = target or rest[0]
    emulator = Emulator.load(
        target,
        env=args.env,
        persist_to=args.persist_to,
        workers=args.workers,
        limits=Limits(),
        connect_to=connect_to(args.connect_to),
        upstream_ca=args.cacert,
    )
    config = emulator.config
    _redact_terminal(emulator)
    if not args.no_log_requests:
        # The handlers' console output shows as it happens (the outbound.console logger), so not again here.
        emulator.audit.on_record(print_records(sys.stdout, console=False))
    if args.port is None:  # wrangler's default port gives way to a free one when taken; a chosen one does not
        worker = WorkerAddress(args.ip or config.dev_ip, config.dev_port, fallback=config.dev_port == DEFAULT_DEV_PORT)
    else:
        worker = WorkerAddress(args.ip or config.dev_ip, args.port)
    async with (
        emulator,
        Server(emulator, capture=args.capture, worker_address=worker, connection_limits=ConnectionLimits()) as server,
        Watcher(emulator) if args.watch else contextlib.nullcontext(),
    ):
        watching = "reloading on changes" if args.watch else "not watching for changes"
        print(f"outbound: v1 serving {config.main} ({server.capture} capture, {watching})", file=sys.stderr)
        if server.worker_has_fetch:
            print(f"outbound: Worker ready on {server.worker_url}", file=sys.stderr)
        else:
            print(
                f"outbound: {config.main.name} has no default export with fetch(); {server.worker_url} answers 500",
                file=sys.stderr,
            )
        print(
            f"outbound: explicit proxy http://127.0.0.1:{server.explicit_port}, control {server.control_url}",
            file=sys.stderr,
        )
        print(
            "outbound: run a command as a sandbox with `outbound run --sandbox ID -- COMMAND`; Ctrl-C stops",
            file=sys.stderr,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        print("outbound: stopping", file=sys.stderr)
    return 0


def _redact_terminal(emulator: Emulator) -> None:
    """Redact secrets from everything that reaches this terminal through logging: the emulator filters its own
    loggers; this covers their children and what other libraries (mitmproxy) print."""
    for handler in [*logging.getLogger("outbound").handlers, logging.lastResort]:
        if handler is not None:
            handler.addFilter(emulator.redactor.logging_filter())


def _remote(args: argparse.Namespace, target: str | None) -> RemoteEmulator:
    return RemoteEmulator.connect(target or args.config, persist_to=args.persist_to)


async def run_command(args: argparse.Namespace) -> int:
    target, rest = split_target(args, 0)
    if rest:
        raise UserError(f"unexpected arguments {' '.join(rest)!r}; put the command after `--`")
    command: list[str] = args.command_argv
    if not command:
        raise UserError(
            "give the command to run after `--`, e.g. `outbound run --sandbox agent-1 -- curl -s https://github.com/`"
        )
    async with _remote(args, target) as emulator:
        await emulator.create_sandbox(args.sandbox, args.cls)
        info = await emulator.sandbox(args.sandbox).launch_info(args.cls)
    environment = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
    environment["HOME"] = info["cwd"]
    environment.update(info["env"])
    if info["capture"] == "namespace":
        from emulator.launch import Launch, launch_command  # noqa: PLC0415

        launch = Launch(
            netns=info["netns"],
            argv=command,
            env=environment,
            cwd=Path(info["cwd"]),
            mounts=[(Path(source), target_path) for source, target_path in info["mounts"]],
            uid=int(info["uid"]),
            gid=int(info["gid"]),
        )
        argv = launch_command(launch)
    else:
        print(f"outbound: warning: {info['warning']}", file=sys.stderr)
        os.chdir(info["cwd"])
        argv = command
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, environment if info["capture"] != "namespace" else {**os.environ})
    except FileNotFoundError:
        raise UserError(f"command not found: {argv[0]}") from None
    return 127  # not reached


async def run_sandbox(args: argparse.Namespace) -> int:
    async with _remote(args, None) as emulator:
        if args.sandbox_command == "list":
            print(json.dumps(await emulator.sandboxes(), indent=2))
        elif args.sandbox_command == "create":
            await emulator.create_sandbox(args.id, args.cls)
            print(f"outbound: sandbox {args.id} ready", file=sys.stderr)
        elif args.sandbox_command == "delete":
            await emulator.delete_sandbox(args.id)
            print(f"outbound: sandbox {args.id} deleted", file=sys.stderr)
        elif args.sandbox_command == "ca":
            sys.stdout.buffer.write(await emulator.sandbox(args.id).ca_certificate())
    return 0


def register(commands: Commands) -> Leaves:
    leaves: Leaves = {}
    dev = commands.add_parser("dev", help="serve handlers to sandboxes' real traffic until Ctrl-C")
    add_project_options(dev)
    dev.add_argument(
        "--capture",
        choices=("auto", "namespace", "explicit"),
        default="auto",
        help="namespace: capture all traffic (needs root); explicit: HTTP_PROXY only; auto: the first that works here",
    )
    dev.add_argument("--workers", type=int, default=2, help="JS worker processes (default 2)")
    dev.add_argument(
        "--no-log-requests",
        action="store_true",
        help="do not print a line per request (they still go to <state>/audit.jsonl and `outbound tail`)",
    )
    dev.add_argument(
        "--ip", metavar="IP", help="where the Worker's fetch listens (default: dev.ip of the config, else 127.0.0.1)"
    )
    dev.add_argument(
        "--port", type=int, metavar="PORT", help="the Worker's port (default: dev.port of the config, else 8787)"
    )
    dev.add_argument(
        "--no-watch",
        dest="watch",
        action="store_false",
        help="do not reload when the handler files, the config or .dev.vars change",
    )
    dev.add_argument("positionals", nargs="*", metavar="[PROJECT]")
    dev.set_defaults(run=run_dev)
    leaves[("dev",)] = dev

    run = commands.add_parser(
        "run",
        help="run a command as a sandbox, its network captured",
        description="Run COMMAND as SANDBOX: `outbound run --sandbox agent-1 -- npm install`.",
    )
    add_project_options(run)
    run.add_argument("--sandbox", "-s", required=True, metavar="ID")
    run.add_argument("positionals", nargs="*", metavar="[PROJECT]")
    run.set_defaults(run=run_command, command_argv=[])
    leaves[("run",)] = run

    sandbox = commands.add_parser("sandbox", help="list, create, delete sandboxes of the running emulator")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    for name in ("list", "create", "delete", "ca"):
        parser = sandbox_commands.add_parser(name)
        add_project_options(parser, sandbox_options=False)
        if name != "list":
            parser.add_argument("id", metavar="ID")
        if name == "create":
            parser.add_argument("--class", dest="cls", metavar="NAME")
        parser.set_defaults(run=run_sandbox, sandbox_command=name)
        leaves[("sandbox", name)] = parser
    return leaves
