"""The request audit log: one record per sandbox request, with secrets redacted before anything is kept.

Every request a sandbox makes — through the proxy or through ``Sandbox.fetch`` — ends as one ``AuditRecord``:
who asked, what, which step of the decision procedure decided (``decide.Step``), which handler answered, the
status, how long it took, bytes each way, and the handler's ``console.*`` output tagged to that request.
``AuditLog`` redacts each record (``Redactor``), keeps the newest in memory for tests, appends them to
``<state>/audit.jsonl``, and hands them to followers (the terminal of ``outbound dev``, ``outbound tail``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

log = logging.getLogger("outbound")

AUDIT_FILENAME = "audit.jsonl"
REDACTED = "[redacted]"
# Shorter values would blank out ordinary text ("on", "1"); a secret this short protects nothing anyway.
MIN_SECRET_LENGTH = 4


@dataclass(frozen=True)
class ConsoleLine:
    level: str  # console method: log, info, warn, error, debug
    message: str


@dataclass(frozen=True)
class AuditRecord:
    time: float  # when the request arrived, seconds since the epoch
    sandbox: str
    method: str
    url: str  # the URL the handler sees (contract §2.2); for TLS that was not decrypted, https://<sni>:<port>
    step: str  # decide.Step's value: "denied host", "runtime catch-all", "internet passthrough", …
    handler: str | None  # e.g. 'outboundByHost["github.com"]' or "outboundHandlers.allowHosts"
    status: int | None  # None: no HTTP response (connection refused, reset, or TLS passed through)
    duration_ms: float
    request_bytes: int  # body bytes the sandbox sent
    response_bytes: int  # body bytes the sandbox received
    console: tuple[ConsoleLine, ...] = ()
    error: str | None = None  # why the request failed, when it did

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = datetime.fromtimestamp(self.time, UTC).isoformat(timespec="microseconds")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditRecord:
        fields = dict(data)
        fields["time"] = datetime.fromisoformat(fields["time"]).timestamp()
        fields["console"] = tuple(ConsoleLine(**line) for line in fields.get("console", ()))
        return cls(**fields)

    def line(self) -> str:
        """One readable line for a terminal, then the handler's console output indented under it."""
        clock = datetime.fromtimestamp(self.time).strftime("%H:%M:%S")
        status = str(self.status) if self.status is not None else "—"
        by = f"{self.handler} ({self.step})" if self.handler else self.step
        text = (
            f"{clock} {self.sandbox} {self.method} {self.url} → {status} by {by} "
            f"{self.duration_ms:.1f} ms ↑{_size(self.request_bytes)} ↓{_size(self.response_bytes)}"
        )
        if self.error:
            text += f"\n    error: {self.error}"
        for entry in self.console:
            text += f"\n    console.{entry.level}: {entry.message}"
        return text


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


class Redactor:
    """Replaces every known secret value in text with ``[redacted]``.

    A secret is matched as given, percent-encoded (a handler may put it in a URL) and JSON-escaped (console
    output of objects). Values shorter than MIN_SECRET_LENGTH are not secrets worth the damage to the log.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *values: str) -> None:
        fresh = {value for value in values if len(value) >= MIN_SECRET_LENGTH} - self._secrets
        if not fresh:
            return
        self._secrets |= fresh
        forms = {form for value in self._secrets for form in _forms(value)}
        # Longest first, so a secret containing another is replaced whole.
        self._pattern = re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))

    def redact(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def logging_filter(self) -> logging.Filter:
        """A filter that redacts log records (message and arguments) before any handler sees them."""
        return _RedactingFilter(self)


def _forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote(value, safe="/:@"), json.dumps(value)[1:-1]} - {""}


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self._redactor._pattern is not None:
            record.msg = self._redactor.redact(record.getMessage())
            record.args = None
        return True


@dataclass
class _Follower:
    queue: asyncio.Queue[AuditRecord | None]
    sandbox: str | None
    dropped: int = 0


@dataclass
class AuditLog:
    """Where records go. ``path`` None keeps them in memory only (``Emulator.load(in_memory=True)``)."""

    path: Path | None
    redactor: Redactor = field(default_factory=Redactor)
    keep: int = 10_000  # records kept in memory for ``records()``
    _recent: deque[AuditRecord] = field(init=False)
    _file: IO[str] | None = field(init=False, default=None)
    _followers: list[_Follower] = field(init=False, default_factory=list)
    _listeners: list[Callable[[AuditRecord], None]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._recent = deque(maxlen=self.keep)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - open until close()
            self.path.chmod(0o600)  # like dev.json: only the user who runs the emulator reads it

    def add(self, record: AuditRecord) -> AuditRecord:
        """Redact ``record``, keep it, write it and hand it to followers; returns the redacted record."""
        record = self._redacted(record)
        self._recent.append(record)
        if self._file is not None:
            try:
                self._file.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            except OSError as error:
                log.error("audit log %s: cannot write (%s); records stay in memory only", self.path, error)
                self._file = None
        for listener in self._listeners:
            listener(record)
        for follower in self._followers:
            if follower.sandbox in (None, record.sandbox):
                _offer(follower, record)
        return record

    def _redacted(self, record: AuditRecord) -> AuditRecord:
        redact = self.redactor.redact
        return replace(
            record,
            url=redact(record.url),
            handler=redact(record.handler) if record.handler else record.handler,
            error=redact(record.error) if record.error else record.error,
            console=tuple(ConsoleLine(line.level, redact(line.message)) for line in record.console),
        )

    def records(self, sandbox: str | None = None) -> list[AuditRecord]:
        """The records still in memory, oldest first; only ``sandbox``'s when given."""
        return [record for record in self._recent if sandbox in (None, record.sandbox)]

    def clear(self) -> None:
        self._recent.clear()

    def on_record(self, listener: Callable[[AuditRecord], None]) -> None:
        """Call ``listener`` with every record from now on (the terminal of ``outbound dev``)."""
        self._listeners.append(listener)

    async def follow(self, sandbox: str | None = None) -> AsyncIterator[AuditRecord]:
        """Records from now on, as they come, until the log closes. A follower too slow to keep up loses the
        oldest records it has not read rather than holding the emulator back."""
        follower = _Follower(asyncio.Queue(maxsize=1000), sandbox)
        self._followers.append(follower)
        try:
            while (record := await follower.queue.get()) is not None:
                yield record
        finally:
            self._followers.remove(follower)

    def close(self) -> None:
        for follower in self._followers:
            _offer(follower, None)
        if self._file is not None:
            self._file.close()
            self._file = None


def _offer(follower: _Follower, record: AuditRecord | None) -> None:
    if follower.queue.full():
        follower.queue.get_nowait()
        follower.dropped += 1
    follower.queue.put_nowait(record)
