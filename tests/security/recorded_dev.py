"""`outbound dev` whose resolver asks a recording stand-in for the internet's DNS:
`python -m tests.security.recorded_dev dev PROJECT --persist-to STATE …`.

The emulator resolves the names a policy sends upstream with the host's resolver (``dns.system_lookup``).
There is no internet here, and a test must see whether a lookup happened at all: this stand-in appends every
name it is asked to ``<STATE>/upstream-lookups.txt`` and knows the names in ``TABLE``; every other name is
NXDOMAIN. Everything else is the real command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator.dns import Addresses, Resolver

LOOKUPS_FILE = "upstream-lookups.txt"
TABLE = {
    "exists.test": Addresses(v4=("192.0.2.10",), v6=("2001:db8::10",)),
    "many.test": Addresses(v4=tuple(f"192.0.2.{index}" for index in range(100, 140))),  # over 512 bytes as A
}


def _recording_lookup(path: Path) -> Callable[[str], Any]:
    async def lookup(name: str) -> Addresses | None:
        with path.open("a") as file:
            file.write(name + "\n")
        return TABLE.get(name)

    return lookup


def _resolver_class(path: Path) -> type[Resolver]:
    class RecordedResolver(Resolver):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options, lookup=_recording_lookup(path))

    return RecordedResolver


if __name__ == "__main__":
    # Imported here: the tests import LOOKUPS_FILE from this module, and the server's imports are heavy.
    from emulator import cli, server

    state = Path(sys.argv[sys.argv.index("--persist-to") + 1])
    server.Resolver = _resolver_class(state / LOOKUPS_FILE)  # type: ignore[attr-defined]  # the one thing changed
    sys.exit(cli.main())
