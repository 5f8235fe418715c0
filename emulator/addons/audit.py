"""One audit record per request through the proxy, in explicit and transparent capture (``emulator/audit.py``
redacts, keeps and writes them).

HTTP: one record per request Outbound attributed, written in ``response`` (which mitmproxy fires after a
streamed body finished) or in ``error`` (reset, upstream refused, client gone: status None and the reason).
The decision, the handler, its console output and its failure come from Outbound's ``Pending`` on the flow.
Bytes are body bytes as they crossed the proxy (content-encoded, de-chunked): whole bodies are measured once
complete, and the bodies Outbound has stream (large, or of unannounced length) were counted as they passed
(``ByteCounter``). No body streams for the audit's sake. A request whose Host header makes no valid URL is
never decided: its record has the step "invalid URL". Records are added once the hook is done
(``AuditLog.add_soon``): their cost is off the path of the response. Every hook of every addon costs on every
request, so this one has only the three it needs.

Connections that never become HTTP get one record each, when the sandbox's connection closes:

    method   URL                    what
    TCP      tcp://<ip>:<port>      a port other than 80/443 (Ports): passed through, bytes counted, or refused
    CONNECT  https://<sni>:<port>   TLS not decrypted (Tls: interceptHttps off, or not for that name): passed
                                    through, or refused; bytes are not counted (mitmproxy relays such a
                                    connection below every hook), so they are None

Their step is "not intercepted" and their status None; a refused connection's error says why.

Requests and connections no sandbox owns (Identify's 407 and 403, TLS or other ports from an address that is
no sandbox's) have no sandbox to be filed under: they get no record, and the addon that refused them logs a
warning instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mitmproxy import connection, http
from mitmproxy.proxy import context, events, layer
from mitmproxy.proxy.layers import TCPLayer

from emulator.addons.deadlines import DEADLINE_KEY
from emulator.addons.outbound import METADATA_KEY, ByteCounter, Pending
from emulator.audit import AuditLog, AuditRecord, ConsoleLine
from emulator.decide import Refuse, RunHandler, Step

AUDIT_KEY = "outbound.audited"  # set once the flow's record is made
INVALID_URL = "invalid URL"  # the step of a request that was never decided (Outbound's 400)
REFUSED = "closed: the sandbox's class does not intercept this traffic and enableInternet is false"


@dataclass
class _Tunnel:
    """A connection that never becomes HTTP, until it closes."""

    sandbox: str
    method: str
    url: str
    arrived: float
    server: connection.Server  # its error says why a refused connection was refused
    sent: int | None  # None: not counted
    received: int | None


class CountedTCPLayer(TCPLayer):
    """Relays the bytes of a connection untouched, as ``TCPLayer(ignore=True)`` does, counting them each way."""

    def __init__(self, ctx: context.Context, tunnel: _Tunnel) -> None:
        super().__init__(ctx, ignore=True)
        self._tunnel = tunnel

    def relay_messages(self, event: events.Event) -> layer.CommandGenerator[None]:
        if isinstance(event, events.DataReceived):
            tunnel = self._tunnel
            if event.connection == self.context.client:
                tunnel.sent = (tunnel.sent or 0) + len(event.data)
            else:
                tunnel.received = (tunnel.received or 0) + len(event.data)
        yield from super().relay_messages(event)


class Audit:
    def __init__(self, log: AuditLog, name_for_ip: Callable[[str], str | None]) -> None:
        self._log = log
        self._name_for_ip = name_for_ip
        self._tunnels: dict[str, _Tunnel] = {}  # client connection id -> its tunnel

    # -- HTTP ------------------------------------------------------------------------------------------------
    def response(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        self._record(flow, flow.response.status_code, None)

    def error(self, flow: http.HTTPFlow) -> None:
        pending = flow.metadata.get(METADATA_KEY)
        reason = flow.error.msg if flow.error is not None else "the request failed"
        if isinstance(pending, Pending) and isinstance(pending.decision, Refuse):
            reason = REFUSED  # Outbound killed the flow: say why, not "Connection killed."
        if DEADLINE_KEY in flow.metadata:  # Deadlines closed the connection: its status (a 408) and why
            status, reason = flow.metadata[DEADLINE_KEY]
            self._record(flow, status, reason)
            return
        self._record(flow, None, _own_words(reason))

    def _record(self, flow: http.HTTPFlow, status: int | None, error: str | None) -> None:
        pending = flow.metadata.get(METADATA_KEY)
        if not isinstance(pending, Pending):
            return  # CONNECT, or refused by Identify before any decision
        if AUDIT_KEY in flow.metadata:
            return  # one record per request, even if an error follows the response
        flow.metadata[AUDIT_KEY] = True
        decision, answer = pending.decision, pending.answer
        console = answer.tag.console if answer is not None and answer.tag is not None else ()
        self._log.add_soon(
            AuditRecord(
                time=flow.request.timestamp_start,
                sandbox=pending.sandbox.id,
                method=pending.method,
                url=pending.target.url,
                step=decision.step.value if decision is not None else INVALID_URL,
                handler=decision.label if isinstance(decision, RunHandler) else None,
                status=status,
                duration_ms=(time.time() - flow.request.timestamp_start) * 1000,
                request_bytes=_bytes(pending.sent, flow.request, pending.request_bytes),
                response_bytes=_bytes(pending.received, flow.response),
                console=tuple(ConsoleLine(entry.level, entry.message) for entry in console),
                error=error or (answer.failure if answer is not None else None),
                # Read now, after a streamed body finished: what it masked as it passed is in.
                warnings=tuple(answer.warnings) if answer is not None else (),
            )
        )

    # -- connections that never become HTTP ------------------------------------------------------------
    def tunnel(
        self, ctx: context.Context, sandbox: str, method: str, host: str, port: int, *, counted: bool
    ) -> _Tunnel:
        """Record this connection of ``sandbox`` to ``host`` (a TLS name, or the address it dialled) when it
        closes. ``counted``: its bytes will be counted (the tunnel goes to a CountedTCPLayer)."""
        host = self._name_for_ip(host) or host  # a synthetic address from the emulator's DNS: the name it stands for
        scheme = "tcp" if method == "TCP" else "https"
        url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
        start = 0 if counted else None
        tunnel = _Tunnel(sandbox, method, url, time.time(), ctx.server, start, start)
        self._tunnels[ctx.client.id] = tunnel
        return tunnel

    def client_disconnected(self, client: connection.Client) -> None:
        tunnel = self._tunnels.pop(client.id, None)
        if tunnel is None:
            return
        error = tunnel.server.error
        self._log.add_soon(
            AuditRecord(
                time=tunnel.arrived,
                sandbox=tunnel.sandbox,
                method=tunnel.method,
                url=tunnel.url,
                step=Step.NOT_INTERCEPTED.value,
                handler=None,
                status=None,
                duration_ms=(time.time() - tunnel.arrived) * 1000,
                request_bytes=tunnel.sent,
                response_bytes=tunnel.received,
                error=_own_words(error) if error else None,
            )
        )


def _own_words(reason: str) -> str:
    """``refused: …`` for ``Connection killed: outbound: refused: …``: the emulator's reason, without the
    prefixes its sandbox-facing text and mitmproxy put around it."""
    return reason.rpartition("outbound: ")[2]


def _bytes(counter: ByteCounter | None, message: http.Message | None, known: int | None = None) -> int | None:
    if known is not None:
        return known  # the body the handler got (the flow's own was emptied for the loopback server)
    if counter is not None:
        return counter.count
    if message is None or message.raw_content is None:
        return None  # no body yet (failed before it), or streamed by mitmproxy uncounted
    return len(message.raw_content)
