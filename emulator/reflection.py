"""Secrets reflected back to a sandbox: every response a handler gives a sandbox is checked for known secrets.

A handler injects a credential (``Authorization: Bearer ${env.TOKEN}``) and returns the upstream's response. An
upstream that reflects the request (httpbin's ``/headers`` and ``/anything``, a server answering TRACE with the
request it got, an error page quoting a header) puts the credential into that response, and the sandbox —
untrusted, perhaps an agent that asked for exactly that URL — reads it. Cloudflare delivers such a response
unchanged; "it worked locally" must not hide that. So ``Egress`` screens every response a handler gives a sandbox
(passthrough is not screened: that sandbox never had a secret to send) for every secret the ``Redactor`` knows,
in the forms it knows (``audit.secret_forms``; base64 at any offset), in the reason phrase, the header values and
the body. Each hit is masked with a mask of the same length (``[redacted***]``), so a Content-Length stays true,
and reported (``Leak``): the audit record and the terminal say which secret, where, from which URL, and that
production would have delivered it.

Bodies are checked as the sandbox's client reads them: decoded from their Content-Encoding (gzip, deflate, br,
zstd, stacked), checked, encoded again. A whole body without a secret is passed on byte for byte. A streamed
body is checked as it streams: a chunk's end that could be the start of a secret (and, for base64, the group
before it) waits for the next chunk, so a secret split across chunks is found while a chunk ending in ordinary
text (an SSE event) goes on at once. A streamed body with a Content-Encoding is decoded, checked and encoded
again chunk by chunk (at the codec's fastest level, flushed after each chunk so a stream stays a stream) and
loses its Content-Length (it goes chunked). A Content-Encoding that cannot be decoded is not delivered (fail
closed): a whole body becomes a 502 saying why, a stream breaks off. When no secret is known nothing here runs.

It cannot find a secret hashed, encrypted, cut short or cut up by the upstream (a byte range of a reflecting
response, a truncated echo), changed in case, or in an encoding not listed.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import brotli  # type: ignore[import-untyped]  # it ships no type hints
import zstandard

from emulator.audit import Redactor, base64_cores, secret_forms

MASK = b"[redacted]"
# Base64 characters on each side of a secret's core that still carry some of its bits (one group of four).
BASE64_EDGE = 4
# Decoded bytes a gzip or deflate body yields at a time: a small body that inflates hugely is checked in pieces.
PIECE_BYTES = 64 * 1024
ENCODINGS = ("gzip", "deflate", "br", "zstd")
# A body encoded again as it streams needs speed more than size (it crosses this machine only): the fastest
# level of each codec, 3-5x faster than the defaults (brotli's 11 is for files compressed once) and 10-30% larger.
FAST_LEVEL = 1
_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")
_NO_BODY = frozenset({204, 304})
_UNESCAPED = re.compile(rb"[A-Za-z0-9._~-]+")
MIN_ANCHOR = 4  # a shorter anchor would match often by chance: the forms themselves are searched then

Headers = list[tuple[str, str]]


class Unscreenable(ValueError):
    """A body's Content-Encoding cannot be decoded, so it cannot be checked for secrets."""


@dataclass(frozen=True)
class Leak:
    """A secret found in a response on its way to a sandbox."""

    secret: str  # its name ("env.API_TOKEN"), never its value
    where: str  # "the body", "header x-echo", "the reason phrase"


def mask(length: int) -> bytes:
    """What replaces ``length`` bytes of a secret: as long as what it replaces."""
    if length < len(MASK):
        return b"*" * length
    return MASK[:-1] + b"*" * (length - len(MASK)) + MASK[-1:]


class SecretScanner:
    """The known secrets, compiled to find them in bytes. ``secrets`` maps each value to its name."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        needles: dict[bytes, tuple[str, bool]] = {}  # form -> (name, is a base64 core)
        quick: set[bytes] = set()  # at least one of these is in any text that holds a needle
        for value, name in secrets.items():
            forms = {form.encode() for form in secret_forms(value)}
            cores = {core.encode() for core in base64_cores(value)}
            for form in forms:
                needles.setdefault(form, (name, False))
            for core in cores:
                needles.setdefault(core, (name, True))
            anchor = _anchor(value)
            quick |= {anchor} if len(anchor) >= MIN_ANCHOR else forms
            quick |= cores
        if not needles:
            raise ValueError("a SecretScanner needs at least one secret")
        self._needles = needles
        # A few substring searches (memmem, a few GB/s) say whether the regular expression (an alternation of
        # every form, ten times slower) has anything to find.
        self._quick = tuple(sorted(quick))
        # Longest first, so a form containing another is masked whole.
        self._pattern = re.compile(b"|".join(re.escape(needle) for needle in sorted(needles, key=len, reverse=True)))
        # For the end of a chunk that may begin a secret: the needles by their first byte.
        self._by_first: dict[bytes, list[tuple[bytes, bool]]] = {}
        for needle, (_, is_core) in needles.items():
            self._by_first.setdefault(needle[:1], []).append((needle, is_core))
        self._longest = max(map(len, needles))
        self._cores = any(core for _, core in needles.values())

    def mask(self, data: bytes, *, final: bool = True) -> tuple[bytes, list[str], int]:
        """``data`` with every secret masked, the names found, and how many leading bytes are settled: all of them
        when ``final``; otherwise the rest may hold the start of a secret whose end has not arrived."""
        settled = len(data) if final else self._unsettled(data)
        if not any(needle in data for needle in self._quick):
            return data, [], settled
        first = self._pattern.search(data)
        if first is None:
            return data, [], settled
        spans: list[tuple[int, int]] = []
        names: list[str] = []
        for match in self._pattern.finditer(data, first.start()):
            name, core = self._needles[match.group()]
            start, end = match.start(), match.end()
            if core:
                start, end = _widen(data, start, end)
                if not final and end == len(data) and end - match.end() < BASE64_EDGE:
                    # The base64 group after the core (more of the secret) may be in the next chunk: decide then.
                    settled = min(settled, start)
                    continue
            names.append(name)
            if spans and start <= spans[-1][1]:
                start = spans.pop()[0]
            spans.append((start, end))
        if not spans:
            return data, [], settled
        out = bytearray(data)
        for start, end in spans:
            out[start:end] = mask(end - start)
        return bytes(out), names, settled

    def _unsettled(self, data: bytes) -> int:
        """Where the end of ``data`` that could be the start of a secret begins (``len(data)`` if it cannot): only
        that much of a chunk waits for the next one, so a stream whose chunks end in ordinary text (an SSE event's
        blank line) is not held back at all. A base64 core may also need the group before it: a chunk's last base64
        characters (up to a group) wait too, in case a core begins with the next chunk."""
        low = max(0, len(data) - self._longest + 1)
        start = len(data)
        for first, needles in self._by_first.items():
            at = data.find(first, low)
            while at != -1:
                tail = data[at:]
                begun = [core for needle, core in needles if needle.startswith(tail)]
                if begun:
                    start = min(start, max(0, at - BASE64_EDGE) if any(begun) else at)
                    break
                at = data.find(first, at + 1)
        if self._cores:
            edge = len(data)
            while edge > len(data) - BASE64_EDGE and edge > 0 and data[edge - 1] in _BASE64:
                edge -= 1
            start = min(start, edge)
        return start


def _anchor(value: str) -> bytes:
    """The longest run of ``value`` that every text form keeps as it is: characters no URL, JSON or HTML
    encoding escapes."""
    return max(_UNESCAPED.findall(value.encode()), key=len, default=b"")


def _widen(data: bytes, start: int, end: int) -> tuple[int, int]:
    """A base64 core and the group on each side of it, which encode bits of the secret mixed with others."""
    low = max(0, start - BASE64_EDGE)
    while start > low and data[start - 1] in _BASE64:
        start -= 1
    high = min(len(data), end + BASE64_EDGE)
    while end < high and data[end] in _BASE64:
        end += 1
    return start, end


class Reflections:
    """The scanner for the secrets a ``Redactor`` knows now, rebuilt when it learns more."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._generation = -1
        self._scanner: SecretScanner | None = None

    def scanner(self) -> SecretScanner | None:
        """None while no secret is known: then no response is screened at all."""
        if self._generation != self._redactor.generation:
            secrets = self._redactor.secrets()
            self._scanner = SecretScanner(secrets) if secrets else None
            self._generation = self._redactor.generation
        return self._scanner


# -- the head ----------------------------------------------------------------------------------------------


def screen_head(scanner: SecretScanner, reason: str, headers: Headers) -> tuple[str, Headers, list[Leak]]:
    """The reason phrase and headers with every secret masked; a header whose name holds one is dropped."""
    leaks: list[Leak] = []
    masked, names, _ = scanner.mask(reason.encode())
    leaks += [Leak(name, "the reason phrase") for name in names]
    kept: Headers = []
    for name, value in headers:
        _, in_name, _ = scanner.mask(name.encode())
        if in_name:
            leaks += [Leak(secret, "a header name (the header was dropped)") for secret in in_name]
            continue
        data, found, _ = scanner.mask(value.encode())
        leaks += [Leak(secret, f"header {name}") for secret in found]
        kept.append((name, data.decode("utf-8", "replace") if found else value))
    return masked.decode("utf-8", "replace") if names else reason, kept, leaks


# -- bodies ------------------------------------------------------------------------------------------------


def encodings_of(headers: Headers) -> list[str]:
    """The Content-Encoding codings in the order they were applied, ``identity`` left out. Raises Unscreenable
    for one this module cannot decode."""
    codings = [
        coding.strip().lower()
        for name, value in headers
        if name.lower() == "content-encoding"
        for coding in value.split(",")
    ]
    codings = ["gzip" if coding == "x-gzip" else coding for coding in codings if coding not in ("", "identity")]
    for coding in codings:
        if coding not in ENCODINGS:
            raise Unscreenable(f"Content-Encoding {coding!r} is not one of {', '.join(ENCODINGS)}")
    return codings


class _Coder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...
    def finish(self) -> Iterator[bytes]: ...


class _ZlibDecoder:
    """gzip (every member of a multi-member body) or deflate (zlib-wrapped, or raw as some servers send it)."""

    def __init__(self, coding: str) -> None:
        self._gzip = coding == "gzip"
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None
        self._head = b""  # deflate's first bytes, until there are two to tell zlib-wrapped from raw

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._inflate is None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS if _zlib_wrapped(data) else -zlib.MAX_WBITS)
        inflate = self._inflate
        while True:
            try:
                piece = inflate.decompress(data, PIECE_BYTES)
            except zlib.error as error:
                raise Unscreenable(f"the body is not valid {'gzip' if self._gzip else 'deflate'} ({error})") from None
            if piece:
                yield piece
            if inflate.eof and self._gzip and inflate.unused_data:
                data = inflate.unused_data  # the next member
                inflate = self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                continue
            data = inflate.unconsumed_tail
            if not data and len(piece) < PIECE_BYTES:
                return

    def finish(self) -> Iterator[bytes]:
        if self._inflate is None:
            if self._head:
                raise Unscreenable("the body is not valid deflate (one byte)")
            return
        piece = self._inflate.flush()
        if piece:
            yield piece


def _zlib_wrapped(head: bytes) -> bool:
    """RFC 1950's header: compression method 8, and the first two bytes a multiple of 31."""
    return head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0


class _PieceDecoder:
    """br and zstd: a decompressor that takes the body piece by piece and has nothing left at the end."""

    def __init__(self, coding: str, decompress: Callable[[bytes], bytes], error: type[Exception]) -> None:
        self._coding = coding
        self._decompress = decompress
        self._error = error

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            piece = self._decompress(data)
        except self._error as error:
            raise Unscreenable(f"the body is not valid {self._coding} ({error})") from None
        if piece:
            yield piece

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Encoder:
    """Encodes again what was decoded, flushing after each chunk so a stream reaches the sandbox as it comes."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        if coding == "br":
            self._brotli = brotli.Compressor(quality=FAST_LEVEL)
        elif coding == "zstd":
            self._zstd = zstandard.ZstdCompressor(level=FAST_LEVEL).compressobj()
        else:
            self._zlib = zlib.compressobj(FAST_LEVEL, wbits=16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._coding == "br":
            out: bytes = self._brotli.process(data) + self._brotli.flush()
        elif self._coding == "zstd":
            out = self._zstd.compress(data) + self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        else:
            out = self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if out:
            yield out

    def finish(self) -> Iterator[bytes]:
        if self._coding == "br":
            out: bytes = self._brotli.finish()
        elif self._coding == "zstd":
            out = self._zstd.flush()
        else:
            out = self._zlib.flush()
        if out:
            yield out


def _decoder(coding: str) -> _Coder:
    if coding == "br":
        return _PieceDecoder("br", brotli.Decompressor().process, brotli.error)
    if coding == "zstd":
        decompressor = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
        return _PieceDecoder("zstd", decompressor.decompress, zstandard.ZstdError)
    return _ZlibDecoder(coding)


class BodyScreen:
    """Screens one body as it passes, chunk by chunk: decoded, masked, encoded again (``reencode``; without it
    the checked bytes go nowhere, for a whole body that is passed on unchanged when it holds no secret)."""

    def __init__(self, scanner: SecretScanner, codings: list[str], *, reencode: bool = True) -> None:
        self._scanner = scanner
        self._decoders = [_decoder(coding) for coding in reversed(codings)]  # the last applied comes off first
        self._encoders = [_Encoder(coding) for coding in codings] if reencode else None
        self._carry = b""
        self._started = False
        self.found: list[str] = []  # names, in the order found

    def feed(self, chunk: bytes) -> bytes:
        """What may go on now; raises Unscreenable."""
        if not chunk:
            return b""
        self._started = True
        return self._out(self._check(self._decoded(0, chunk, final=False), final=False), final=False)

    def finish(self) -> bytes:
        """The rest, once the body has ended."""
        if not self._started:
            return b""  # no body (HEAD, 204): nothing to encode, not even an empty gzip member
        return self._out(self._check(self._decoded(0, b"", final=True), final=True), final=True)

    def _decoded(self, stage: int, data: bytes, *, final: bool) -> Iterator[bytes]:
        if stage == len(self._decoders):
            if data:
                yield data
            return
        decoder = self._decoders[stage]
        for piece in decoder.feed(data) if data else ():
            yield from self._decoded(stage + 1, piece, final=False)
        if final:
            for piece in decoder.finish():
                yield from self._decoded(stage + 1, piece, final=False)
            yield from self._decoded(stage + 1, b"", final=True)

    def _check(self, pieces: Iterator[bytes], *, final: bool) -> Iterator[bytes]:
        for piece in pieces:
            yield from self._check_one(piece, final=False)
        if final:
            yield from self._check_one(b"", final=True)

    def _check_one(self, piece: bytes, *, final: bool) -> Iterator[bytes]:
        data = self._carry + piece
        masked, names, settled = self._scanner.mask(data, final=final)
        self.found += names
        self._carry = masked[settled:]
        if settled:
            yield masked[:settled]

    def _out(self, pieces: Iterator[bytes], *, final: bool) -> bytes:
        if self._encoders is None:
            for _ in pieces:
                pass
            return b""
        out = b"".join(pieces)
        for encoder in self._encoders:
            parts = [*encoder.feed(out)] if out else []
            if final:
                parts += encoder.finish()
            out = b"".join(parts)
        return out


def screen_whole(scanner: SecretScanner, body: bytes, codings: list[str]) -> tuple[bytes, list[str]]:
    """A whole body with every secret masked, and the names found; the body itself when it holds none."""
    if not codings:
        masked, names, _ = scanner.mask(body)
        return masked, names
    check = BodyScreen(scanner, codings, reencode=False)
    check.feed(body)
    check.finish()
    if not check.found:
        return body, []
    screen = BodyScreen(scanner, codings)
    return screen.feed(body) + screen.finish(), screen.found


class ScreenedStream:
    """A streamed body, screened as it passes; ``cancel()`` cancels the body it reads (as ``ResponseBody``)."""

    def __init__(
        self, body: AsyncIterable[bytes], screen: BodyScreen, on_leak: Callable[[Leak], None], failed: type[Exception]
    ) -> None:
        self._body = body
        self._screen = screen
        self._on_leak = on_leak
        self._failed = failed  # what a body that cannot be decoded raises (the body's own failure type)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        screen, reported = self._screen, 0
        finished = False
        try:
            async for chunk in self._body:
                try:
                    out = screen.feed(chunk)
                except Unscreenable as error:
                    raise self._stopped(error) from None
                reported = self._report(reported)
                if out:
                    yield out
            try:
                out = screen.finish()
            except Unscreenable as error:
                raise self._stopped(error) from None
            self._report(reported)
            if out:
                yield out
            finished = True
        finally:
            if not finished:
                self.cancel()

    def _stopped(self, error: Unscreenable) -> Exception:
        return self._failed(f"outbound stopped the response body: {error}, so it cannot be checked for secrets")

    def _report(self, reported: int) -> int:
        for name in self._screen.found[reported:]:
            self._on_leak(Leak(name, "the body"))
        return len(self._screen.found)

    def cancel(self) -> None:
        cancel = getattr(self._body, "cancel", None)
        if cancel is not None:
            cancel()


def has_body(method: str, status: int) -> bool:
    """Whether a response to ``method`` with ``status`` can carry a body at all (RFC 9110 §6.4.1)."""
    return method != "HEAD" and status >= 200 and status not in _NO_BODY


def leak_warning(leak: Leak, handler: str, source: str | None) -> str:
    """What the user reads: which secret, where, from where, and what production would do with it."""
    came = f"the response {handler} fetched from {source}" if source else f"the Response {handler} returned"
    return (
        f"secret {leak.secret} was in {leak.where} of {came}; outbound masked it, but Cloudflare delivers the "
        "response unchanged, so in production the sandbox reads this secret. Remove it in the handler before "
        "returning the response (or do not return that upstream's response as it is)"
    )
