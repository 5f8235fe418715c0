"""Finding known secrets in a handler's response before a sandbox reads it (emulator/reflection.py)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import html
import json
import random
import time
import zlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import brotli  # type: ignore[import-untyped]
import pytest
import zstandard

from emulator.audit import Redactor
from emulator.reflection import (
    BodyScreen,
    Leak,
    Reflections,
    ScreenedStream,
    SecretScanner,
    Unscreenable,
    encodings_of,
    mask,
    screen_head,
    screen_whole,
)

SECRET = "tok/9f8e7d6c+5b4a"
NAME = "env.API_TOKEN"
SCANNER = SecretScanner({SECRET: NAME})


def zstd(data: bytes) -> bytes:
    return bytes(zstandard.ZstdCompressor().compress(data))


def unzstd(data: bytes) -> bytes:
    return bytes(zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(data))


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


CODECS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "gzip": (gzip.compress, gzip.decompress),
    "deflate": (zlib.compress, zlib.decompress),
    "br": (lambda data: bytes(brotli.compress(data, quality=5)), brotli.decompress),
    "zstd": (zstd, unzstd),
}


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),  # Python's quote: tok%2F9f8e7d6c%2B5b4a
        quote(SECRET, safe="").replace("%2F", "%2f").replace("%2B", "%2b"),  # lower-case hex
        quote(SECRET, safe="/:@"),
        SECRET.replace("/", "\\/"),  # JSON as PHP's json_encode writes it
    ],
)
def test_each_text_form_is_masked_with_a_mask_as_long(form: str) -> None:
    text = f'{{"reflected": "Bearer {form}", "next": 1}}'.encode()
    masked, names, settled = SCANNER.mask(text)
    assert masked == text.replace(form.encode(), mask(len(form)))
    assert (names, settled, len(masked)) == ([NAME], len(text), len(text))


def test_json_and_html_escapes_are_masked() -> None:
    secret = 'p&ss"w0rd<é>'
    scanner = SecretScanner({secret: NAME})
    for form in (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], html.escape(secret)):
        assert scanner.mask(f"<p>{form}</p>".encode()) == (
            f"<p>{mask(len(form.encode())).decode()}</p>".encode(),
            [NAME],
            len(form.encode()) + 7,
        )


@pytest.mark.parametrize("user", ["", "a", "ab", "abc", "agent-7"])  # every offset of the secret in the base64
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_holding_a_secret_is_masked_with_the_groups_that_carry_its_bits(
    user: str, encode: Callable[[bytes], bytes]
) -> None:
    prefix = f"{user}:".encode()
    word = encode(prefix + SECRET.encode() + b":tail")
    masked, names, _ = SCANNER.mask(b"Basic " + word)
    kept = masked.removeprefix(b"Basic ")
    start, end = kept.index(b"[redacted"), kept.index(b"]") + 1
    assert names == [NAME] and len(kept) == len(word)
    # What is left of the word on either side encodes only bytes before or after the secret: whole groups of
    # four characters (three bytes) that hold none of it.
    assert start <= 4 * (len(prefix) // 3)
    assert end >= 4 * -(-(len(prefix) + len(SECRET)) // 3)


def test_other_text_is_left_alone_and_stays_linear() -> None:
    text = b"Bearer tok/9f8e7d6c+5b4b and YWdlbnQ6cGFzcw== " * 100
    assert SCANNER.mask(text) == (text, [], len(text))
    blob = b"A" * 2_000_000
    started = time.perf_counter()
    assert SCANNER.mask(blob)[1] == []
    assert time.perf_counter() - started < 1.0


def test_a_secret_split_across_chunks_is_found_wherever_the_split_falls() -> None:
    basic = base64.b64encode(f"agent:{SECRET}".encode())
    body = b"x" * 50 + f'"Bearer {SECRET}"'.encode() + b"y" * 30 + b" " + basic + b" " + b"z" * 20
    whole = SCANNER.mask(body)[0]
    for cut in range(1, len(body)):
        screen = BodyScreen(SCANNER, [])
        assert screen.feed(body[:cut]) + screen.feed(body[cut:]) + screen.finish() == whole, cut
        assert screen.found == [NAME, NAME], cut
    screen = BodyScreen(SCANNER, [])
    assert b"".join(screen.feed(body[i : i + 1]) for i in range(len(body))) + screen.finish() == whole


def test_a_stream_holds_back_only_what_could_begin_a_secret() -> None:
    screen = BodyScreen(SCANNER, [])
    assert screen.feed(b"data: one\n\n") == b"data: one\n\n"  # an SSE event goes on at once
    assert screen.feed(b"x: Bearer tok/9f") == b"x: Bearer "  # the start of the secret waits for the rest
    assert screen.feed(b"8e7d6c+5b4a!\n") == mask(len(SECRET)) + b"!\n"
    assert screen.feed(b"ordinary words") == b"ordinary w"  # a base64 group's worth: a core may follow
    assert screen.feed(b", then more\n") + screen.finish() == b"ords, then more\n"
    assert screen.found == [NAME]


@pytest.mark.parametrize("coding", list(CODECS))
def test_an_encoded_body_is_checked_decoded_and_encoded_again(coding: str) -> None:
    encode, decode = CODECS[coding]
    noise = base64.b64encode(random.Random(1).randbytes(150_000)).decode()  # compresses little: many chunks
    plain = json.dumps({"headers": {"Authorization": f"Bearer {SECRET}"}, "noise": noise}).encode()
    body, names = screen_whole(SCANNER, encode(plain), [coding])
    assert names == [NAME] and decode(body) == SCANNER.mask(plain)[0]
    screen = BodyScreen(SCANNER, [coding])  # streamed: in small chunks, encoded again as it goes
    compressed = encode(plain)
    pieces = [screen.feed(compressed[i : i + 1000]) for i in range(0, len(compressed), 1000)]
    assert decode(b"".join([*pieces, screen.finish()])) == SCANNER.mask(plain)[0]
    assert sum(1 for piece in pieces if piece) > 1  # it streamed: not all held to the end
    clean = encode(b"nothing to see " * 100)
    assert screen_whole(SCANNER, clean, [coding]) == (clean, [])  # byte for byte


PLAIN = f"a {SECRET} b".encode()
MASKED = PLAIN.replace(SECRET.encode(), mask(len(SECRET)))


@pytest.mark.parametrize(
    ("codings", "body", "decode"),
    [
        (["gzip"], gzip.compress(PLAIN[:5]) + gzip.compress(PLAIN[5:]), gzip.decompress),  # two members
        (["deflate"], raw_deflate(PLAIN), zlib.decompress),  # sent without the zlib wrapper; encoded again with it
        (["gzip", "br"], brotli.compress(gzip.compress(PLAIN)), lambda data: gzip.decompress(brotli.decompress(data))),
    ],
    ids=["gzip members", "raw deflate", "gzip then br"],
)
def test_odd_but_valid_encodings_are_checked(codings: list[str], body: bytes, decode: Callable[[bytes], bytes]) -> None:
    out, names = screen_whole(SCANNER, body, codings)
    assert (decode(out), names) == (MASKED, [NAME])


def test_an_encoding_that_cannot_be_decoded_is_unscreenable() -> None:
    with pytest.raises(Unscreenable, match="'compress' is not one of gzip, deflate, br, zstd"):
        encodings_of([("Content-Encoding", "gzip, compress")])
    assert encodings_of([("content-encoding", "X-GZIP, identity"), ("Content-Encoding", "br")]) == ["gzip", "br"]
    with pytest.raises(Unscreenable, match="the body is not valid gzip"):
        screen_whole(SCANNER, b"plain text, labelled gzip " + SECRET.encode(), ["gzip"])


def test_no_body_stays_no_body() -> None:
    screen = BodyScreen(SCANNER, ["gzip"])
    assert screen.feed(b"") + screen.finish() == b""  # not even an empty gzip member (HEAD, 204)


def test_the_reason_phrase_and_header_values_are_masked_and_a_header_named_by_a_secret_dropped() -> None:
    reason, headers, leaks = screen_head(
        SCANNER,
        f"OK {SECRET}",
        [("x-echo", f"Bearer {SECRET}"), (f"x-{SECRET}", "1"), ("content-length", "10")],
    )
    assert reason == "OK " + mask(len(SECRET)).decode()
    assert headers == [("x-echo", "Bearer " + mask(len(SECRET)).decode()), ("content-length", "10")]
    assert leaks == [
        Leak(NAME, "the reason phrase"),
        Leak(NAME, "header x-echo"),
        Leak(NAME, "a header name (the header was dropped)"),
    ]


def test_nothing_is_screened_until_a_secret_is_known() -> None:
    redactor = Redactor()
    reflections = Reflections(redactor)
    assert reflections.scanner() is None
    redactor.add("abc")  # too short to be a secret worth masking
    assert reflections.scanner() is None
    redactor.add(SECRET, name=NAME)
    scanner = reflections.scanner()
    assert scanner is not None and scanner is reflections.scanner()  # built once per change
    assert scanner.mask(SECRET.encode())[1] == [NAME]
    redactor.add("rotated-secret-value", name="env.VAULT")
    assert reflections.scanner() is not scanner


class Source:
    """A streamed body that records being cancelled, as ``ResponseBody`` does."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.cancelled = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    def cancel(self) -> None:
        self.cancelled = True


class Broken(Exception):
    pass


async def test_a_screened_stream_reports_each_leak_and_stops_a_body_it_cannot_decode() -> None:
    leaks: list[Leak] = []
    body = f"a {SECRET} b".encode()
    source = Source([body[:5], body[5:]])
    stream = ScreenedStream(source, BodyScreen(SCANNER, []), leaks.append, Broken)
    assert b"".join([chunk async for chunk in stream]) == SCANNER.mask(body)[0]
    assert leaks == [Leak(NAME, "the body")] and not source.cancelled
    garbage = Source([b"\x1f\x8b\x08\x00 not gzip at all", b"more"])
    stream = ScreenedStream(garbage, BodyScreen(SCANNER, ["gzip"]), leaks.append, Broken)
    with pytest.raises(Broken, match="outbound stopped the response body: the body is not valid gzip"):
        _ = [chunk async for chunk in stream]
    assert garbage.cancelled


class Flushed:
    """Encodes as a streaming upstream does: each event flushed, so it can be decoded on arrival."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.gzip = zlib.compressobj(wbits=31)
        self.brotli = brotli.Compressor()

    def event(self, data: bytes) -> bytes:
        if self.coding == "gzip":
            return self.gzip.compress(data) + self.gzip.flush(zlib.Z_SYNC_FLUSH)
        if self.coding == "br":
            return bytes(self.brotli.process(data) + self.brotli.flush())
        return data

    def end(self) -> bytes:
        return self.gzip.flush() if self.coding == "gzip" else bytes(self.brotli.finish()) if self.coding else b""


class Unflushed:
    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.gzip = zlib.decompressobj(wbits=31)
        self.brotli = brotli.Decompressor()

    def text(self, data: bytes) -> bytes:
        if self.coding == "gzip":
            return self.gzip.decompress(data)
        return bytes(self.brotli.process(data)) if self.coding else data


@pytest.mark.parametrize("coding", ["", "gzip", "br"])
async def test_a_screened_stream_passes_each_event_on_as_it_comes(coding: str) -> None:
    # An SSE stream through a handler (an LLM API with an injected key) must not wait for its next event.
    second = asyncio.Event()
    upstream, sandbox = Flushed(coding), Unflushed(coding)

    async def events() -> AsyncIterator[bytes]:
        yield upstream.event(b"data: one\n\n")
        await second.wait()
        yield upstream.event(b"data: two\n\n") + upstream.end()

    stream = aiter(ScreenedStream(events(), BodyScreen(SCANNER, [coding] if coding else []), print, Broken))
    first = await asyncio.wait_for(anext(stream), 5)  # before the second event exists
    assert sandbox.text(first) == b"data: one\n\n"
    second.set()
    assert sandbox.text(b"".join([chunk async for chunk in stream])) == b"data: two\n\n"
