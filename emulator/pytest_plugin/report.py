"""What a test's handlers did, as a section of the pytest report ("Captured outbound call").

While a test runs, ``TestCapture`` keeps the warnings and errors the emulator logs (a handler that threw is
logged with its stack mapped to the TypeScript file:line and a code frame, ``egress.py``). When the test's
call phase ends, ``render`` merges them by time with the test's audit records (each request: the rule and
handler that answered, the status, the handler's console output) and the requests the upstream stub received
(method, URL and header names: values may be credentials). pytest shows the section for failed tests, and for
passed ones with ``-rP``. Everything in it went through the emulator's redactor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from emulator.emulator import Emulator
from emulator.pytest_plugin.stub import UpstreamStub

SECTION = "outbound"
LOGGER = "outbound"  # handler failures, worker events and load warnings; not outbound.console (in audit records)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == LOGGER:
            self.records.append(record)


@dataclass
class TestCapture:
    """One test's view of the emulator and the stub, from ``start`` to ``stop``."""

    __test__ = False  # not a test class, whatever its name says to pytest

    stub: UpstreamStub
    emulator: Emulator | None = None
    _collector: _Collector = field(default_factory=_Collector)

    def start(self) -> None:
        logging.getLogger(LOGGER).addHandler(self._collector)

    def stop(self) -> None:
        logging.getLogger(LOGGER).removeHandler(self._collector)

    def render(self) -> str:
        """The section's text; empty when nothing happened."""
        entries: list[tuple[float, str]] = []
        redact = self.emulator.redactor.redact if self.emulator is not None else _unchanged
        if self.emulator is not None:
            entries += [(record.time, record.line()) for record in self.emulator.audit.records()]
        entries += [
            (record.created, f"{record.levelname}: {record.getMessage()}") for record in self._collector.records
        ]
        for request in self.stub.requests:
            names = ", ".join(dict.fromkeys(name.lower() for name in request.headers))
            entries.append(
                (request.time, f"upstream stub received {request.method} {redact(request.url)} (headers: {names})")
            )
        lines = [text for _, text in sorted(entries, key=lambda entry: entry[0])]
        if lines and self.emulator is not None and self.emulator.warnings:
            lines = [f"load warning: {warning}" for warning in self.emulator.warnings] + lines
        return "\n".join(lines)


def _unchanged(text: str) -> str:
    return text
