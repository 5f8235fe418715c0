"""The request audit log: one record per sandbox request, with secrets redacted before anything is kept.

Every request a sandbox makes — through the proxy (``addons/audit.py``) or through ``Sandbox.fetch`` — ends as
one ``AuditRecord``: who asked, what, which step of the decision procedure decided (``decide.Step``), which
handler answered, the status, how long it took, bytes each way, and the handler's ``console.*`` output tagged to
that request. ``AuditLog`` redacts each record (``Redactor``), keeps the newest in memory for tests, appends them
to ``<state>/audit.jsonl`` (one JSON object a line, mode 0600), and hands them to listeners (the terminal of
``outbound dev``) and followers (``outbound tail``, through the control API).

Redaction replaces every known secret value with ``[redacted]``: as given, percent-encoded (as Python's
``quote``, JS's ``encodeURIComponent`` and form encoding write it, in either case), JSON-escaped (slashes too, as
PHP writes them), HTML-escaped, and inside base64 (standard or URL-safe, at any offset: ``Authorization: Basic
base64(user:secret)``), where the whole base64 word goes. It cannot recognise a secret hashed, encrypted, split,
or in an encoding not listed here. The same forms keep secrets out of the responses handlers give sandboxes
(``reflection.py``).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import os
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

log = logging.getLogger("outbound")

AUDIT_FILENAME = "audit.jsonl"
REDACTED = "[redacted]"
# Shorter values would blank out ordinary text ("on", "1"); a secret this short protects nothing anyway.
MIN_SECRET_LENGTH = 4
# A base64 run this long that encodes part of a secret is not a coincidence (64^-6 per position).
MIN_BASE64_CORE = 6
FOLLOWER_QUEUE = 1000  # records a follower may lag behind before it loses the oldest
_JSON = json.JSONEncoder(ensure_ascii=False)  # made once: json.dumps with options builds one per call


@dataclass(frozen=True, slots=True)
class ConsoleLine:
    level: str  # console method: log, info, warn, error, debug
    message: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    time: float  # when the request arrived, seconds since the epoch
    sandbox: str
    method: str  # the HTTP method; "CONNECT" for TLS passed through undecrypted, "TCP" for other ports
    url: str  # the URL the handler sees (contract §2.2); https://<sni>:<port> or tcp://<ip>:<port> for tunnels
    step: str  # decide.Step's value: "denied host", "runtime catch-all", "internet passthrough", …
    handler: str | None  # e.g. 'outboundByHost["github.com"]' or "outboundHandlers.allowHosts"
    status: int | None  # None: no HTTP response (connection refused, reset, or a tunnel)
    duration_ms: float
    request_bytes: int | None  # body bytes the sandbox sent; None: not counted (TLS passed through)
    response_bytes: int | None  # body bytes the sandbox received; None: not counted
    console: tuple[ConsoleLine, ...] = ()
    error: str | None = None  # why the request failed, when it did
    # What the user must know though the request worked: a secret the response would have carried to the
    # sandbox (emulator/reflection.py), …
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values (as ``audit.jsonl`` and the control API carry it); ``time`` in ISO 8601, UTC.
        Spelled out rather than ``asdict``, which copies deeply and took most of a record's cost."""
        return {
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="microseconds"),
            "sandbox": self.sandbox,
            "method": self.method,
            "url": self.url,
            "step": self.step,
            "handler": self.handler,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
            "console": [{"level": line.level, "message": line.message} for line in self.console],
            "error": self.error,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditRecord:
        # Keys this version does not know (a newer emulator's) are left out rather than refused.
        known = {field.name for field in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["time"] = datetime.fromisoformat(values["time"]).timestamp()
        values["console"] = tuple(ConsoleLine(**line) for line in values.get("console", ()))
        values["warnings"] = tuple(values.get("warnings", ()))
        return cls(**values)

    def line(self, *, console: bool = True) -> str:
        """One readable line for a terminal, then (``console``) the handler's console output, the error and the
        warnings indented under it."""
        clock = datetime.fromtimestamp(self.time).strftime("%H:%M:%S")
        status = str(self.status) if self.status is not None else "—"
        by = f"{self.handler} ({self.step})" if self.handler else self.step
        text = (
            f"{clock} {self.sandbox} {self.method} {self.url} → {status} by {by} "
            f"{self.duration_ms:.1f} ms ↑{_size(self.request_bytes)} ↓{_size(self.response_bytes)}"
        )
        if console:  # before the error: the handler logged, then failed
            for entry in self.console:
                text += f"\n    console.{entry.level}: {entry.message}"
        if self.error:
            text += f"\n    error: {self.error}"
        for warning in self.warnings:  # always: a secret about to reach a sandbox in production is never noise
            text += f"\n    warning: {warning}"
        return text


def _size(count: int | None) -> str:
    if count is None:
        return "?"
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


class Redactor:
    """Replaces every known secret value in text with ``[redacted]`` (the forms are in the module docstring).

    Values shorter than MIN_SECRET_LENGTH are not secrets worth the damage to the log. Secrets are added as the
    emulator learns them (``.dev.vars`` at load, Secrets Store values as handlers read them); text logged
    before a secret was known is not revisited.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._names: dict[str, str] = {}  # value -> the name a handler knows it by ("env.API_TOKEN")
        self._pattern: re.Pattern[str] | None = None
        self._base64: re.Pattern[str] | None = None
        self.generation = 0  # counts changes, so what is built from the secrets knows when to rebuild
        self.add(*secrets)

    @property
    def active(self) -> bool:
        """Whether there is anything to redact."""
        return self._pattern is not None

    def add(self, *values: str, name: str | None = None) -> None:
        """Redact ``values`` from now on; ``name`` is how a warning names them (never the value)."""
        kept = [value for value in values if len(value) >= MIN_SECRET_LENGTH]
        if name is not None:
            for value in kept:
                if self._names.get(value) != name:
                    self._names[value] = name
                    self.generation += 1
        fresh = set(kept) - self._secrets
        if not fresh:
            return
        self._secrets |= fresh
        self.generation += 1
        self._pattern = _alternation({form for value in self._secrets for form in secret_forms(value)})
        cores = {core for value in self._secrets for core in base64_cores(value)}
        self._base64 = _alternation(cores) if cores else None

    def secrets(self) -> dict[str, str]:
        """Every secret known, value -> name (``a secret`` for one added without a name)."""
        return {value: self._names.get(value, "a secret") for value in self._secrets}

    def redact(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        if self._base64 is not None:
            text = _redact_base64_words(self._base64, text)
        return self._pattern.sub(REDACTED, text)

    def logging_filter(self) -> logging.Filter:
        """A filter that redacts log records (message, arguments, traceback) before any handler sees them."""
        return _RedactingFilter(self)


def _alternation(forms: set[str]) -> re.Pattern[str]:
    # Longest first, so a secret containing another is replaced whole.
    return re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))


def secret_forms(value: str) -> set[str]:
    """``value`` as text may carry it: as given, percent-encoded, JSON-escaped, HTML-escaped."""
    encoded = {
        quote(value, safe=""),  # Python's quote, and what most URL builders write
        quote(value, safe="/:@"),
        quote(value, safe="!~*'()"),  # JS encodeURIComponent
        quote_plus(value, safe="*"),  # URLSearchParams / application/x-www-form-urlencoded
    }
    escaped = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}  # JSON.stringify: non-ASCII kept
    return {
        value,
        *encoded,
        *(_PERCENT.sub(lambda hex: hex.group().lower(), form) for form in encoded),  # %2f as well as %2F
        *escaped,
        *(form.replace("/", "\\/") for form in escaped),  # PHP's json_encode escapes slashes
        html.escape(value),  # an HTML page that echoes the request
    } - {""}


_PERCENT = re.compile("%[0-9A-F]{2}")


_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


def base64_cores(value: str) -> set[str]:
    """The base64 characters that depend on ``value``'s bytes alone, for each of the three offsets the value can
    start at inside a longer base64 text (``user:secret``), in the standard and the URL-safe alphabet."""
    data = value.encode()
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        start = 4 if offset else 0  # the first group mixes in the bytes before the value
        end = 4 * ((offset + len(data)) // 3)  # a last partial group mixes in the bytes after it
        core = encoded[start:end]
        if len(core) >= MIN_BASE64_CORE:
            cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


def _redact_base64_words(cores: re.Pattern[str], text: str) -> str:
    """Replace each whole base64 word that contains a secret's core (the edges of the word still encode bits of
    the secret). Found by the cores, then widened by hand: a regex that widened would backtrack quadratically."""
    spans: list[tuple[int, int]] = []
    for match in cores.finditer(text):
        start, end = match.start(), match.end()
        if spans and start < spans[-1][1]:
            continue
        while start > 0 and text[start - 1] in _BASE64_CHARS:
            start -= 1
        while end < len(text) and (text[end] in _BASE64_CHARS or text[end] == "="):
            end += 1
        if spans and start <= spans[-1][1]:
            start = spans.pop()[0]
        spans.append((start, end))
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], REDACTED]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self._redactor
        if not redactor.active:
            return True
        record.msg = redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            # A traceback quotes exception messages, which may hold what a handler held.
            record.exc_text = redactor.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor.redact(record.stack_info)
        return True


class Follower:
    """The records of one follower (``AuditLog.subscribe``), as they come, until the log closes or ``close()``.

    A follower too slow to keep up loses the oldest records it has not read (counted in ``dropped``) rather
    than holding the emulator back.
    """

    def __init__(self, audit: AuditLog, sandbox: str | None) -> None:
        self.sandbox = sandbox
        self.dropped = 0
        self._audit = audit
        self._queue: asyncio.Queue[AuditRecord | None] = asyncio.Queue(maxsize=FOLLOWER_QUEUE)
        self._closed = False

    def offer(self, record: AuditRecord | None) -> None:
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(record)
        if record is None:
            self._closed = True

    async def get(self) -> AuditRecord | None:
        """The next record; None once the follower or the log is closed."""
        if self._closed and self._queue.empty():
            return None
        return await self._queue.get()

    def close(self) -> None:
        self._audit._unsubscribe(self)
        self.offer(None)

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> AuditRecord:
        record = await self.get()
        if record is None:
            raise StopAsyncIteration
        return record


class AuditLog:
    """Where records go. ``path`` None keeps them in memory only (``Emulator.load(in_memory=True)``); otherwise
    the file is created (mode 0600, like dev.json: only the user who runs the emulator reads it) at the first
    record."""

    def __init__(self, path: Path | None = None, redactor: Redactor | None = None, *, keep: int = 10_000) -> None:
        self.path = path
        self.redactor = redactor if redactor is not None else Redactor()
        self._recent: deque[AuditRecord] = deque(maxlen=keep)  # for ``records()``
        self._fd: int | None = None
        self._closed = False
        self._followers: list[Follower] = []
        self._listeners: list[Callable[[AuditRecord], None]] = []
        self._soon: list[AuditRecord] = []  # add_soon's, until the loop comes round

    def add(self, record: AuditRecord) -> AuditRecord:
        """Redact ``record``, keep it, write it and hand it on; returns the redacted record."""
        record, line = self._accept(record)
        self._write(line)
        return record

    def add_soon(self, record: AuditRecord) -> None:
        """``add`` once the running callback is done: off the path of the request it records (a proxy hook runs
        before mitmproxy sends the response). Records keep their order; those of one turn of the event loop are
        written together."""
        self._soon.append(record)
        if len(self._soon) == 1:
            asyncio.get_running_loop().call_soon(self._add_pending)

    def _add_pending(self) -> None:
        pending, self._soon = self._soon, []
        self._write(b"".join(self._accept(record)[1] for record in pending))

    def _accept(self, record: AuditRecord) -> tuple[AuditRecord, bytes]:
        """Redact, keep and hand on ``record``; the redacted record and its line for the file."""
        record = self._redacted(record)
        self._recent.append(record)
        for listener in self._listeners:
            try:
                listener(record)
            except Exception as error:  # a broken terminal must not fail the sandbox's request
                log.error("audit log: a listener (%r) failed: %s", listener, error)
        for follower in self._followers:
            if follower.sandbox in (None, record.sandbox):
                follower.offer(record)
        if self.path is None or self._closed:
            return record, b""
        return record, (_JSON.encode(record.to_json()) + "\n").encode()

    def _write(self, lines: bytes) -> None:
        if not lines or self.path is None or self._closed:
            return
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            # Whole lines in one write: O_APPEND keeps them whole when two emulators share a state folder.
            written = os.write(self._fd, lines)
            while written < len(lines):
                written += os.write(self._fd, lines[written:])
        except OSError as error:
            log.error("audit log %s: cannot write (%s); records stay in memory only", self.path, error)
            self._close_file()
            self.path = None

    def _redacted(self, record: AuditRecord) -> AuditRecord:
        redact = self.redactor.redact
        if not self.redactor.active:
            return record
        return replace(
            record,
            url=redact(record.url),
            handler=redact(record.handler) if record.handler else record.handler,
            error=redact(record.error) if record.error else record.error,
            console=tuple(ConsoleLine(line.level, redact(line.message)) for line in record.console),
            warnings=tuple(redact(warning) for warning in record.warnings),
        )

    def records(self, sandbox: str | None = None) -> list[AuditRecord]:
        """The records still in memory, oldest first; only ``sandbox``'s when given."""
        return [record for record in self._recent if sandbox in (None, record.sandbox)]

    def clear(self) -> None:
        self._recent.clear()

    def on_record(self, listener: Callable[[AuditRecord], None]) -> None:
        """Call ``listener`` with every record from now on (the terminal of ``outbound dev``)."""
        self._listeners.append(listener)

    def subscribe(self, sandbox: str | None = None) -> Follower:
        """Follow the records from now on (only ``sandbox``'s when given). Registered at once, so a record
        added right after this call is not missed; ``close()`` the follower when done."""
        follower = Follower(self, sandbox)
        if self._closed:
            follower.offer(None)
        else:
            self._followers.append(follower)
        return follower

    def _unsubscribe(self, follower: Follower) -> None:
        if follower in self._followers:
            self._followers.remove(follower)

    async def follow(self, sandbox: str | None = None) -> AsyncIterator[AuditRecord]:
        """The records from now on, as they come, until the log closes."""
        follower = self.subscribe(sandbox)
        try:
            async for record in follower:
                yield record
        finally:
            follower.close()

    def close(self) -> None:
        """Write what ``add_soon`` still holds, end every follower and close the file; records added later stay in
        memory only."""
        self._add_pending()
        self._closed = True
        for follower in list(self._followers):
            follower.offer(None)
        self._followers.clear()
        self._close_file()

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
