"""``outbound tail``: follow the request audit log of a running emulator, as ``wrangler tail`` follows a Worker.

outbound tail [PROJECT] [--sandbox ID] [--json]

Prints each request sandboxes make from now on (only ID's with --sandbox): a readable line (``AuditRecord.line``,
coloured on a terminal) or, with --json, one JSON record a line in the format of ``<state>/audit.jsonl``. Records
made before it connected are in that file. Ctrl-C ends it quietly; the emulator stopping ends it with a message.
The terminal of ``outbound dev`` prints the same lines (``print_records``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from typing import TextIO

from emulator.audit import AuditRecord
from emulator.cli.common import Commands, Leaves, add_project_options, split_target
from emulator.client import RemoteEmulator

_GREEN, _YELLOW, _RED, _DIM, _RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[2m", "\x1b[0m"


def readable(record: AuditRecord, *, colour: bool, console: bool = True) -> str:
    """``record.line()``, its first line coloured by outcome and the lines under it dimmed when ``colour``."""
    text = record.line(console=console)
    if not colour:
        return text
    head, _, rest = text.partition("\n")
    status = record.status
    tint = _RED if status is None or status >= 500 else _YELLOW if status >= 400 else _GREEN
    return f"{tint}{head}{_RESET}" + (f"\n{_DIM}{rest}{_RESET}" if rest else "")


def print_records(out: TextIO, *, console: bool) -> Callable[[AuditRecord], None]:
    """An ``AuditLog.on_record`` listener that prints each record to ``out`` (``outbound dev``'s terminal), flushed
    once per turn of the event loop rather than once per line: a write per request costs the proxy."""
    colour = out.isatty()
    flushing = False

    def flush() -> None:
        nonlocal flushing
        flushing = False
        out.flush()

    def show(record: AuditRecord) -> None:
        nonlocal flushing
        out.write(readable(record, colour=colour, console=console) + "\n")
        if not flushing:
            flushing = True
            asyncio.get_running_loop().call_soon(flush)

    return show


async def run_tail(args: argparse.Namespace) -> int:
    target, rest = split_target(args, 0)
    if rest:
        target = target or rest[0]
    remote = RemoteEmulator.connect(target or args.config, persist_to=args.persist_to)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with remote:
        following = asyncio.create_task(_follow(remote, args.sandbox, args.json), name="outbound-tail")
        stopping = asyncio.create_task(stop.wait(), name="outbound-tail-stop")
        await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():  # Ctrl-C: end quietly
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
            return 0
        stopping.cancel()
        following.result()  # a control API that refused raises here
    print("outbound: the emulator stopped; tail ends", file=sys.stderr)
    return 0


async def _follow(remote: RemoteEmulator, sandbox: str | None, as_json: bool) -> None:
    colour = not as_json and sys.stdout.isatty()
    whose = f"sandbox {sandbox}" if sandbox else "every sandbox"

    def connected() -> None:
        print(f"outbound: following the requests of {whose} at {remote.url}; Ctrl-C stops", file=sys.stderr)

    async for record in remote.follow_audit(sandbox, on_open=connected):
        if as_json:
            print(json.dumps(record.to_json(), ensure_ascii=False), flush=True)
        else:
            print(readable(record, colour=colour), flush=True)


def register(commands: Commands) -> Leaves:
    tail = commands.add_parser(
        "tail",
        help="follow the requests sandboxes make, as the running emulator audits them",
        description="Print each request sandboxes of the running emulator make from now on, as `wrangler tail` does.",
    )
    add_project_options(tail, sandbox_options=False)
    tail.add_argument("--sandbox", "-s", metavar="ID", help="only this sandbox's requests")
    tail.add_argument("--json", action="store_true", help="one JSON record a line (the format of audit.jsonl)")
    tail.add_argument("positionals", nargs="*", metavar="[PROJECT]")
    tail.set_defaults(run=run_tail)
    return {("tail",): tail}
