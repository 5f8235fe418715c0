"""`outbound dev` with small containment limits, so that a hanging, spinning or hogging handler costs a test
seconds rather than the defaults' minute: `python -m tests.faults.limited_dev dev PROJECT …`.

The CLI has no option for `Limits` (it always runs with the defaults); everything else is the real command."""

from __future__ import annotations

import sys

from emulator import cli
from emulator.cli import serve
from emulator.runtime.pool import Limits

FAULT_LIMITS = Limits(cpu_ms=800, memory_mib=160, response_timeout_s=1.5, retire_timeout_s=2.0)


def _limits() -> Limits:
    return FAULT_LIMITS


if __name__ == "__main__":
    serve.Limits = _limits  # type: ignore[misc,assignment]  # the one thing changed: run_dev's Limits()
    sys.exit(cli.main())
