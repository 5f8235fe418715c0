"""Which sandbox owns a connection. Every request is attributed to exactly one sandbox, or refused.

Transparent capture: the peer address is the sandbox's address in its own network namespace, which nftables
lets no one else use (netns.py), so the address is the identity. Explicit proxy: the sandbox's proxy
credentials (``Proxy-Authorization: Basic <sandbox id>:<token>``), a random token per sandbox that only that
sandbox's environment holds. The credentials are removed before anything is forwarded. A request no sandbox
owns is answered 407 or 403 and logged as a warning: it has no sandbox to be audited under.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
from collections.abc import Callable

from mitmproxy import connection, http

log = logging.getLogger("outbound")
UNATTRIBUTED = (
    "outbound: this connection does not belong to any sandbox. Connect through a sandbox started with "
    "`outbound run --sandbox ID -- …`, or send the sandbox's proxy credentials (HTTP_PROXY from `outbound run`).\n"
)


class Credentials:
    """Per-sandbox explicit-proxy tokens."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    def issue(self, sandbox_id: str) -> str:
        token = self._tokens.get(sandbox_id)
        if token is None:
            token = self._tokens[sandbox_id] = secrets.token_urlsafe(24)
        return token

    def revoke(self, sandbox_id: str) -> None:
        self._tokens.pop(sandbox_id, None)

    def check(self, header: str | None) -> str | None:
        """The sandbox whose credentials ``header`` (a Proxy-Authorization value) carries, or None."""
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            user, _, token = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self._tokens.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), token.encode()):
            return None
        return user


class Identify:
    def __init__(self, sandbox_for_ip: Callable[[str], str | None], credentials: Credentials) -> None:
        self._sandbox_for_ip = sandbox_for_ip
        self._credentials = credentials
        self._owners: dict[str, str] = {}  # client connection id -> sandbox id

    def sandbox(self, client: connection.Client) -> str | None:
        return self._owners.get(client.id)

    def client_connected(self, client: connection.Client) -> None:
        if client.proxy_mode.type_name == "transparent" and client.peername:
            owner = self._sandbox_for_ip(client.peername[0])
            if owner is not None:
                self._owners[client.id] = owner

    def client_disconnected(self, client: connection.Client) -> None:
        self._owners.pop(client.id, None)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._authenticate(flow)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.client_conn.proxy_mode.type_name == "regular" and flow.request.method != "CONNECT":
            # Plain HTTP through the explicit proxy: every request carries (and loses) the credentials.
            if flow.client_conn.id not in self._owners or "proxy-authorization" in flow.request.headers:
                self._authenticate(flow)
        elif flow.client_conn.id not in self._owners and flow.response is None:
            flow.response = http.Response.make(403, UNATTRIBUTED, {"content-type": "text/plain;charset=UTF-8"})
            _warn(flow, "the address belongs to no sandbox")

    def _authenticate(self, flow: http.HTTPFlow) -> None:
        owner = self._credentials.check(flow.request.headers.get("proxy-authorization"))
        flow.request.headers.pop("proxy-authorization", None)
        if owner is None:
            flow.response = http.Response.make(
                407,
                UNATTRIBUTED,
                {"content-type": "text/plain;charset=UTF-8", "proxy-authenticate": 'Basic realm="outbound"'},
            )
            _warn(flow, "no or wrong proxy credentials")
            return
        known = self._owners.get(flow.client_conn.id)
        if known is not None and known != owner:
            flow.response = http.Response.make(
                403,
                "outbound: one connection cannot carry two sandboxes' credentials.\n",
                {"content-type": "text/plain;charset=UTF-8"},
            )
            _warn(flow, f"credentials of sandbox {owner!r} on a connection of sandbox {known!r}")
            return
        self._owners[flow.client_conn.id] = owner


def _warn(flow: http.HTTPFlow, why: str) -> None:
    assert flow.response is not None
    peer = flow.client_conn.peername
    log.warning(
        "answered %d to %s %s from %s: %s",
        flow.response.status_code,
        flow.request.method,
        flow.request.pretty_url,
        f"{peer[0]}:{peer[1]}" if peer else "?",
        why,
    )
