"""fetch() for the JS runtime: the network half of a handler's ``fetch()``, done with ``emulator/upstream.py``.

``js/fetch.js`` builds the Request and sends it here as one payload (JSON meta + body, ``bridge.pack_meta``).
This module follows redirects the way workerd does (``http.c++``, ``handleHttpRedirectResponse``) and answers
with the response head; a body then streams through ``read()``, one chunk per call, so a large download is
never held in memory. A small body with a known length comes back with the head instead, which saves the
round trips for the common case.

Wire format (the JS side documents the same in ``js/fetch.js``)::

    request   {"i": id, "m": method, "u": url, "h": [[name, value]...], "b": 1 if a body follows,
               "f": 1 to follow redirects, "o": 1 if the body was a stream (it cannot be sent twice)}
    response  {"s": status, "t": reason, "h": [[name, value]...], "b": 0 no body | 1 read() it | 2 it follows,
               "u": the final URL, only when redirects were followed}
    failure   {"e": "type" | "lost" | "internal" | "aborted", "m": message}

A handler's fetch() never dials what production egress cannot reach (``reach.py``): this machine, private
networks, cloud metadata. The first URL and every redirect target are checked where ``Upstream`` dials them;
a refusal is a TypeError naming the URL, the redirect that led there and the reason. Only names
``connect_to`` reroutes reach local servers.

Nothing here raises into JS: failures are answered as data (a failure meta, or an empty chunk from ``read()``,
which ``js/fetch.js`` turns into workerd's ``Network connection lost.``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import ada_url

from emulator.reach import Unreachable, local_addresses
from emulator.runtime.bridge import pack_meta, unpack_meta
from emulator.upstream import (
    AddressRefused,
    ConnectFailed,
    ConnectionLost,
    InvalidRequest,
    Upstream,
    UpstreamError,
    UpstreamOptions,
    UpstreamResponse,
)

MAX_REDIRECTS = 20  # http.c++ MAX_REDIRECT_COUNT, as the Fetch standard suggests
INLINE_BODY_MAX_BYTES = 64 * 1024  # a body this small with a Content-Length comes back with the head
# Read from a redirect's body before it is dropped; past this the connection is closed instead of drained.
DRAIN_MAX_BYTES = 64 * 1024

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
NULL_BODY_STATUSES = frozenset({101, 204, 205, 304})
# Headers kj's HTTP client writes itself (KJ_HTTP_FOR_EACH_CONNECTION_HEADER, plus Host, which comes from the
# URL): a handler's values for them are not sent, as in workerd.
CONNECTION_HEADERS = frozenset(
    {"connection", "content-length", "host", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)
# Removed before following a redirect to another origin. workerd (strip_authorization_on_cross_origin_redirect)
# and the Fetch standard remove Authorization only; Cookie and Proxy-Authorization go too here, so that a
# credential a handler injects never reaches a host it did not choose (threat model §5.8).
CROSS_ORIGIN_STRIPPED = frozenset({"authorization", "cookie", "proxy-authorization"})
# aiohttp refuses these in header values; workerd would send them (it refuses only NUL, CR and LF).
UNSENDABLE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# workerd's messages (http.c++).
TOO_MANY_REDIRECTS = "Too many redirects."
INVALID_LOCATION = "Invalid Location header; unable to follow redirect."
ONE_TIME_BODY = (
    "A request with a one-time-use body (it was initialized from a stream, not a buffer) encountered a redirect "
    "requiring the body to be retransmitted. To avoid this error in the future, construct this request from a "
    "buffer-like body initializer."
)
INVALID_HEADER_VALUE = "Invalid header value."
# Ours: production's fetch() cannot reach these addresses either, and says nothing we could copy.
REFUSED = (
    "fetch() refused {url}{via}: {reason}. Workers on Cloudflare cannot reach such addresses either; to reach a "
    "local server while developing, give it a host name and route that name to it with --connect-to."
)

BODY_NONE, BODY_PULLED, BODY_INLINE = 0, 1, 2
BODY_LOST = b""  # what read() answers when a body cannot be read to its end


class FetchFailed(Exception):
    """A fetch ends in an error the handler sees: ``kind`` picks the JS error, ``message`` is its text."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class FetchHost:
    """Outbound HTTP for one worker process; every method takes and returns bytes or numbers."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._upstream = Upstream(UpstreamOptions.from_init(options), unreachable=Unreachable(local_addresses()))
        self._inflight: dict[int, asyncio.Task[Any]] = {}
        self._bodies: dict[int, UpstreamResponse] = {}

    async def fetch(self, payload: bytes) -> bytes:
        """Sends the request (following redirects if asked); returns the response head, or a failure."""
        meta, body = unpack_meta(payload)
        ident = int(meta["i"])
        task = asyncio.current_task()
        if task is not None:
            self._inflight[ident] = task
        try:
            return await self._exchange(ident, meta, body if meta.get("b") else None)
        except asyncio.CancelledError:
            # cancel() from JS: the handler has already rejected with its signal's reason.
            return pack_meta({"e": "aborted", "m": "aborted"})
        except FetchFailed as failure:
            return pack_meta({"e": failure.kind, "m": failure.message})
        except UpstreamError as error:
            return pack_meta({"e": _error_kind(error), "m": str(error)})
        finally:
            self._inflight.pop(ident, None)

    async def read(self, ident: int) -> bytes | None:
        """The next chunk of a fetched body; None at its end; empty bytes if it cannot be read to the end.

        Data chunks are never empty, so b"" is an unambiguous "the connection broke (or the fetch was
        cancelled)"; answering it instead of raising keeps an exception's text (a new Python str per
        failure) out of SpiderMonkey (runtime-notes §1.7).
        """
        response = self._bodies.get(ident)
        if response is None:
            return BODY_LOST
        try:
            chunk = await response.read_chunk()
        except UpstreamError:
            self._bodies.pop(ident, None)
            return BODY_LOST
        if chunk is None:
            self._bodies.pop(ident, None)
            response.release()
        return chunk

    def cancel(self, ident: int) -> None:
        """Abandons fetch ``ident``: an in-flight request is cancelled, an open body closed."""
        task = self._inflight.pop(ident, None)
        if task is not None:
            task.cancel()
        response = self._bodies.pop(ident, None)
        if response is not None:
            response.close()

    async def close(self) -> None:
        for ident in list(self._inflight) + list(self._bodies):
            self.cancel(ident)
        await self._upstream.close()

    async def _exchange(self, ident: int, meta: Mapping[str, Any], body: bytes | None) -> bytes:
        method: str = meta["m"]
        url = _wire_url(meta["u"])
        headers = _outgoing_headers(meta["h"])
        follow = meta.get("f") == 1
        one_time = meta.get("o") == 1
        redirects = 0
        via = ""
        while True:
            try:
                response = await self._upstream.request(method, url, headers, body)
            except AddressRefused as refused:
                raise FetchFailed("type", REFUSED.format(url=url, via=via, reason=refused.reason)) from None
            try:
                location = response.header("location") if follow and response.status in REDIRECT_STATUSES else None
                if location is None:
                    return await self._head(ident, method, response, url if redirects else None)
                await _discard(response)
            except BaseException:
                response.close()  # cancelled or failed before the body was handed over
                raise
            status = response.status
            try:
                target = ada_url.URL(location, url)
            except ValueError:
                raise FetchFailed("type", INVALID_LOCATION) from None
            if redirects >= MAX_REDIRECTS:
                raise FetchFailed("type", TOO_MANY_REDIRECTS)
            if target.protocol not in ("http:", "https:"):
                raise FetchFailed("type", f"Fetch API cannot load: {target.href}")
            if target.origin != ada_url.URL(url).origin:
                headers = [(name, value) for name, value in headers if name not in CROSS_ORIGIN_STRIPPED]
            if status != 303 and body is not None and one_time:
                raise FetchFailed("type", ONE_TIME_BODY)
            # Fetch "HTTP-redirect fetch" step 11, as workerd has it (Content-* headers are kept, as there).
            if (status in (301, 302) and method == "POST") or (status == 303 and method != "HEAD"):
                method, body = "GET", None
            via = f" (where a {status} redirect from {url} led)"
            url = _wire_url(target.href)
            redirects += 1

    async def _head(self, ident: int, method: str, response: UpstreamResponse, final_url: str | None) -> bytes:
        head: dict[str, Any] = {"s": response.status, "t": response.reason, "h": response.headers}
        if final_url is not None:
            head["u"] = final_url
        inline = b""
        if method == "HEAD" or response.status in NULL_BODY_STATUSES:
            # Fetch main fetch step 21: these responses have no body, whatever the server sent.
            await _discard(response)
            head["b"] = BODY_NONE
        elif (length := response.content_length) is not None and length <= INLINE_BODY_MAX_BYTES:
            inline = await response.read()
            response.release()
            head["b"] = BODY_INLINE
        else:
            self._bodies[ident] = response
            head["b"] = BODY_PULLED
        return pack_meta(head, inline)


def _wire_url(url: str) -> str:
    """The URL as it goes on the wire: no fragment, no user info (aiohttp would turn it into Authorization)."""
    if "#" not in url and "@" not in url:
        return url
    parsed = ada_url.URL(url)
    parsed.hash = ""
    parsed.username = ""
    parsed.password = ""
    return parsed.href


def _outgoing_headers(pairs: list[list[str]]) -> list[tuple[str, str]]:
    headers = []
    for name, value in pairs:
        if name in CONNECTION_HEADERS:
            continue
        # js/headers.js already refused CR, LF and NUL; aiohttp refuses the other control characters.
        if UNSENDABLE_VALUE.search(value) or UNSENDABLE_VALUE.search(name):
            raise FetchFailed("type", INVALID_HEADER_VALUE)
        headers.append((name, value))
    return headers


async def _discard(response: UpstreamResponse) -> None:
    """Drops a body nobody will read: drained if short (the connection is reused), else closed."""
    read = 0
    try:
        while read <= DRAIN_MAX_BYTES:
            chunk = await response.read_chunk()
            if chunk is None:
                response.release()
                return
            read += len(chunk)
    except UpstreamError:
        return
    response.close()


def _error_kind(error: UpstreamError) -> str:
    # kj reports refused, reset and dropped connections as DISCONNECTED, which jsg shows as "Network connection
    # lost."; DNS, TLS and protocol failures are internal errors with a reference (as wrangler dev shows them).
    if isinstance(error, (ConnectFailed, ConnectionLost)):
        return "lost"
    if isinstance(error, InvalidRequest):
        return "type"
    return "internal"
