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
                await self._write(writer, *answer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _write(
        self,
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
        try:
            async for chunk in body:
                if length is None:
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    writer.write(chunk)
                await writer.drain()
        except Exception:
            # The handler's body broke off: close without the final chunk, so the client sees a truncated
            # response, as from a server that failed mid-body.
            writer.close()
            raise ConnectionError("the handler's response body failed") from None
        if length is None:
            writer.write(b"0\r\n\r\n")
        await writer.drain()


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""
