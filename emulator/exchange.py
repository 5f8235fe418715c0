"""A sandbox's request and the response it gets, as plain values.

``SandboxRequest.from_client`` models what an HTTP client inside a sandbox sends when it fetches a URL: it
connects to the URL's host and port, sends a Host header (unless the caller set one) and, for HTTPS, the URL's
host name as SNI. The handler then sees the URL production builds (contract §2.2): scheme, the Host header,
and the path — ``http://1.2.3.4/``, ``http://[111::]/``, ``http://11.0.0.1:9999/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ada_url

from emulator.decide import Decision, Destination
from emulator.errors import UserError
from emulator.hosts import DEFAULT_PORTS, ip_literal, normalize_hostname
from emulator.runtime.pool import ConsoleEntry

HeaderList = tuple[tuple[str, str], ...]


class BadRequest(UserError):
    """The request cannot be sent as given (unsupported scheme, malformed URL or header)."""


@dataclass(frozen=True)
class SandboxRequest:
    method: str
    url: str  # the URL the handler sees
    headers: HeaderList  # as the client sent them, Host first
    body: bytes | None
    destination: Destination
    dial_url: str  # where the client's connection went (the URL it was asked to fetch)
    hostname: str | None = None  # the handler URL's normalised host, when already known

    @classmethod
    def from_client(
        cls,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes | str | None = None,
    ) -> SandboxRequest:
        try:
            parsed = ada_url.URL(url)
        except ValueError as error:
            raise BadRequest(f"{url!r} is not a valid URL") from error
        scheme = parsed.protocol.rstrip(":")
        if scheme not in DEFAULT_PORTS:
            raise BadRequest(f"{url!r}: a sandbox's HTTP client sends only http:// and https:// URLs")
        port = int(parsed.port) if parsed.port else DEFAULT_PORTS[scheme]
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers or ())
        _check_headers(pairs)
        host_header = next((value for name, value in pairs if name.lower() == "host"), None)
        hostname: str | None = None
        if host_header is None:
            host_header = parsed.host
            pairs.insert(0, ("Host", host_header))
            hostname = normalize_hostname(parsed.hostname)  # the handler URL has this very host
        path = parsed.pathname + parsed.search
        ip = ip_literal(parsed.hostname)
        sni = None if ip else parsed.hostname
        hint = sni if scheme == "https" else host_header
        data = body.encode() if isinstance(body, str) else body
        method = method.upper() if method.upper() in _STANDARD_METHODS else method
        if data is not None and not any(name.lower() == "content-length" for name, _ in pairs):
            pairs.append(("Content-Length", str(len(data))))
        return cls(
            method=method,
            url=f"{scheme}://{host_header}{path}",
            headers=tuple(pairs),
            body=data,
            destination=Destination(scheme=scheme, port=port, hint=hint, ip=ip),  # type: ignore[arg-type]
            dial_url=parsed.href,
            hostname=hostname,
        )

    def js_headers(self) -> HeaderList:
        """Headers as a handler's Request holds them: lower-case names, order kept."""
        return tuple((name.lower(), value) for name, value in self.headers)


_STANDARD_METHODS = {"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"}
_TOKEN = set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _check_headers(pairs: list[tuple[str, str]]) -> None:
    for name, value in pairs:
        if not name or not set(name) <= _TOKEN:
            raise BadRequest(f"invalid header name {name!r}")
        if any(char in value for char in "\r\n\0"):
            raise BadRequest(f"invalid value for header {name!r}: CR, LF and NUL are not allowed")


@dataclass
class SandboxResponse:
    """What the sandbox received, and which rule produced it."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    decision: Decision
    console: list[ConsoleEntry] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The header's values joined with ", " (as Headers.get does), or None."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)
