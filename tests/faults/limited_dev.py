"""`outbound dev` with small containment limits, so that a hanging, spinning or hogging handler, or a client that
trickles its request, costs a test seconds rather than the defaults' minute: `python -m tests.faults.limited_dev dev
PROJECT …`.

The CLI has no option for `Limits` or `ConnectionLimits` (it always runs with the defaults); everything else is
the real command."""

from __future__ import annotations

import sys

from emulator import cli
from emulator.addons import deadlines
from emulator.addons.deadlines import ConnectionLimits
from emulator.cli import serve
from emulator.runtime.pool import Limits

FAULT_LIMITS = Limits(cpu_ms=800, memory_mib=160, response_timeout_s=1.5, retire_timeout_s=2.0)
FAULT_CONNECTION_LIMITS = ConnectionLimits(head_timeout_s=2.0, min_body_bytes_per_s=1024)


def _limits() -> Limits:
    return FAULT_LIMITS


def _connection_limits() -> ConnectionLimits:
    return FAULT_CONNECTION_LIMITS


if __name__ == "__main__":
    serve.Limits = _limits  # type: ignore[misc,assignment]  # run_dev's Limits()
    deadlines.ConnectionLimits = _connection_limits  # type: ignore[misc,assignment]  # run_dev's ConnectionLimits()
    sys.exit(cli.main())
