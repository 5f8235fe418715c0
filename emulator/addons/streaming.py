"""A loopback HTTP/1.1 server that serves handler responses whose bodies stream.

mitmproxy streams bodies only as they arrive from a server; an addon can set a whole response but not a
streamed one. So when a handler's Response body is a stream (``return fetch(request)`` of a large download),
the flow is sent here instead (outbound.py rewrites it), and this server writes the handler's status and
headers and then the body as the JS worker produces it: nothing is held whole in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import secrets
from collections.abc import AsyncIterable

PATH_PREFIX = "/__outbound/"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class StreamedAnswers:
    def __init__(self) -> None:
        self._pending: dict[str, tuple[int, str, list[tuple[str, str]], AsyncIterable[bytes]]] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for _, _, _, body in self._pending.values():
            cancel = getattr(body, "cancel", None)
            if cancel is not None:
                cancel()
        self._pending.clear()

    def register(self, status: int, reason: str, headers: list[tuple[str, str]], body: AsyncIterable[bytes]) -> str:
        """Hold a response for the next request to the returned path."""
        token = secrets.token_urlsafe(16)
        self._pending[token] = (status, reason, headers, body)
        return f"{PATH_PREFIX}{token}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else ""
                answer = self._pending.pop(target[len(PATH_PREFIX) :], None) if target.startswith(PATH_PREFIX) else None
                if answer is None:
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                await self._write(reader, writer, *answer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _write(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        body: AsyncIterable[bytes],
    ) -> None:
        phrase = reason or _phrase(status)
        lines = [f"HTTP/1.1 {status} {phrase}".rstrip()]
        length = next((value for name, value in headers if name.lower() == "content-length"), None)
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in _HOP_BY_HOP]
        if length is None:
            lines.append("transfer-encoding: chunked")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace"))
        # mitmproxy sends nothing more on this connection until the answer is complete, so the end of its input
        # means the sandbox hung up. Watched while waiting for each chunk: a body that stalls (a handler's fetch()
        # of an upstream that stopped sending) would otherwise never be cancelled, and hold its upstream
        # connection and its JS worker's request open for ever (tests/faults/test_upstream_faults.py).
        gone = asyncio.ensure_future(reader.read(1))
        chunks = aiter(body)
        finished = False
        try:
            while True:
                following = asyncio.ensure_future(anext(chunks, None))
                await asyncio.wait((following, gone), return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    following.cancel()
                    raise ConnectionError("the sandbox hung up")
                try:
                    chunk = following.result()
                except Exception:
                    # The handler's body broke off: close without the final chunk, so the client sees a truncated
                    # response, as from a server that failed mid-body.
                    writer.close()
                    finished = True  # the body ended itself: nothing to cancel
                    raise ConnectionError("the handler's response body failed") from None
                if chunk is None:
                    break
                if length is None:
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    writer.write(chunk)
                await writer.drain()
            if length is None:
                writer.write(b"0\r\n\r\n")
            await writer.drain()
            finished = True
        finally:
            gone.cancel()
            if not finished:  # the sandbox went away first: stop the handler's body (and what feeds it)
                cancel = getattr(body, "cancel", None)
                if cancel is not None:
                    cancel()


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""
