"""The decision procedure applied to intercepted HTTP: 520, passthrough, or a handler's answer.

The decision is made when the request's headers arrive (it depends on the host, never on the body), and a
passthrough is pointed at its destination then, before its body starts streaming out. Which bodies stream is
decided here, per flow, not by mitmproxy's ``stream_large_bodies`` (its check also fires midway through a body
and would stream a denied or handled request's body on to the host it names): a passed-through body streams
when it is announced past 1 MiB or its length is not announced (chunked, or until the connection closes);
small announced ones are cheaper whole. A request for a handler is buffered for it; a denied request's body
goes nowhere. Every request is decided against the sandbox's policy as it is now: a runtime change applies to
an open keep-alive connection from its next request (contract §2.2). What was decided stays on the flow
(``Pending``) for the later hooks and the audit record (addons/audit.py); a streamed body passes through a
``ByteCounter``, so the record can say how large it was without anything holding it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mitmproxy import http
from mitmproxy.net.http.http1 import expected_http_body_size

from emulator.addons.convert import Target, make_response, sandbox_request, target_of
from emulator.addons.dial import Dial
from emulator.addons.state import Connections
from emulator.addons.streaming import StreamedAnswers
from emulator.decide import Decision, Deny, Passthrough, Refuse, RunHandler, Step, decide_request
from emulator.egress import Answer, Origin, deny
from emulator.runtime.pool import ResponseBody
from emulator.sandbox import LiveSandbox

METADATA_KEY = "outbound"
BAD_HOST = "outbound: the request's Host header does not make a valid URL; the request was not forwarded.\n"
FOLDED = "outbound: a request header is folded over lines (obs-fold); the request was not forwarded.\n"
STREAM_PAST_BYTES = 1024 * 1024  # a passed-through body announced larger than this streams


@dataclass
class Pending:
    sandbox: LiveSandbox
    decision: Decision | None  # None: never decided, the Host header makes no valid URL (answered 400)
    target: Target
    method: str  # as the sandbox sent it (a streamed handler answer rewrites the flow's)
    streamed: bool = False  # the handler's body streams from the loopback server
    answer: Answer | None = None  # the handler's: its console output, and why it failed
    request_bytes: int | None = None  # the body the handler got (the flow's is emptied for the loopback server)
    sent: ByteCounter | None = None  # the request body, when it streams
    received: ByteCounter | None = None  # the response body, when it streams


class ByteCounter:
    """A mitmproxy ``stream`` function: each chunk passes on unchanged, and is counted."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, chunk: bytes) -> bytes:
        self.count += len(chunk)
        return chunk


class Outbound:
    def __init__(self, connections: Connections, dial: Dial, streamed: StreamedAnswers) -> None:
        self._connections = connections
        self._dial = dial
        self._streamed = streamed

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.error is not None or flow.request.method == "CONNECT":
            return
        live = await self._connections.sandbox(flow.client_conn)
        if live is None:
            return  # Identify has answered already
        if any(b"\r" in value or b"\n" in value for _, value in flow.request.headers.fields):
            # mitmproxy keeps an obs-fold continuation inside the value and would send it on folded: the
            # upstream then reads headers other than the ones decided on (RFC 9112 §5.2 lets us reject it).
            flow.metadata[METADATA_KEY] = Pending(live, None, target_of(flow), flow.request.method)
            flow.response = make_response(400, "", [("content-type", "text/plain;charset=UTF-8")], FOLDED.encode())
            return
        target = target_of(flow)
        if target.hostname is None:
            flow.metadata[METADATA_KEY] = Pending(live, None, target, flow.request.method)
            flow.response = make_response(400, "", [("content-type", "text/plain;charset=UTF-8")], BAD_HOST.encode())
        else:
            decision = decide_request(live.policy, target.destination, target.hostname)
            pending = flow.metadata[METADATA_KEY] = Pending(live, decision, target, flow.request.method)
            if isinstance(decision, Refuse):
                flow.kill()
            elif isinstance(decision, Passthrough):
                await self._pass_through(flow, decision, target)
                if flow.response is None and streams(flow.request, None):
                    flow.request.stream = pending.sent = ByteCounter()

    async def request(self, flow: http.HTTPFlow) -> None:
        pending = flow.metadata.get(METADATA_KEY)
        if not isinstance(pending, Pending) or flow.response is not None or flow.error is not None:
            return
        decision = pending.decision
        if isinstance(decision, Deny):
            answer = deny(decision)
            assert isinstance(answer.body, bytes)
            flow.response = make_response(answer.status, answer.reason, answer.headers, answer.body)
        elif isinstance(decision, RunHandler):
            await self._run(flow, pending, decision)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        pending = flow.metadata.get(METADATA_KEY)
        if not isinstance(pending, Pending) or flow.response is None:
            return
        # A handler's body from the loopback server streams as it comes; a passed-through one when large.
        if pending.streamed or (isinstance(pending.decision, Passthrough) and streams(flow.request, flow.response)):
            flow.response.stream = pending.received = ByteCounter()

    async def _pass_through(self, flow: http.HTTPFlow, decision: Passthrough, where: Target) -> None:
        if decision.step is Step.NOT_INTERCEPTED:
            return  # the bytes go where the sandbox sent them (Dial reroutes synthetic DNS addresses)
        # ContainerProxy's fetch(request): to the host the request URL names, rerouted as connect_to says.
        assert where.hostname is not None
        scheme, port = where.destination.scheme, where.port
        host_header = flow.request.host_header
        name = where.hostname.strip("[]")
        target = self._dial.target(name, port)
        if target == (name, port):  # not rerouted by connect_to: vetted, and pinned to the address checked
            vetted, why = await self._dial.vet(name, port)
            if vetted is None:
                text = f"outbound: refused: {why}; the request was not forwarded.\n"
                flow.response = make_response(502, "", [("content-type", "text/plain;charset=UTF-8")], text.encode())
                return
            target = vetted
        flow.request.scheme = scheme
        flow.request.host, flow.request.port = target
        flow.request.host_header = host_header
        self._dial.expect(flow.client_conn, target, name if scheme == "https" else None)

    async def _run(self, flow: http.HTTPFlow, pending: Pending, decision: RunHandler) -> None:
        live = pending.sandbox
        origin = Origin(live.id, live.description.config.class_name, live.container_id)
        pending.request_bytes = len(flow.request.raw_content or b"")
        # live.egress, not the current one: a reload since the decision must not run it on another version.
        answer = await live.egress.run_handler(origin, sandbox_request(flow, pending.target), decision)
        pending.answer = answer
        body = answer.body
        if isinstance(body, bytes):
            flow.response = make_response(answer.status, answer.reason, answer.headers, body)
            return
        if isinstance(body, ResponseBody) and body.is_complete:
            flow.response = make_response(answer.status, answer.reason, answer.headers, await body.read())
            return
        # A streamed body: serve it from the loopback server so mitmproxy can stream it to the sandbox.
        path = self._streamed.register(answer.status, answer.reason, answer.headers, body)
        pending.streamed = True
        request = flow.request
        request.scheme, request.host, request.port = "http", "127.0.0.1", self._streamed.port
        request.method, request.path, request.content = "GET", path, b""
        self._dial.expect(flow.client_conn, ("127.0.0.1", self._streamed.port), None)  # ours, not the sandbox's


def streams(request: http.Request, response: http.Response | None) -> bool:
    """Whether a passed-through body (the response's, when given) should stream rather than be held whole."""
    try:
        size = expected_http_body_size(request, response)
    except ValueError:
        return False  # mitmproxy refuses a malformed length before any body moves
    if size == 0 and response is None and request.is_http2 and "content-length" not in request.headers:
        # HTTP/2 need not announce a request body; a request that has none ends with its headers, so
        # streaming it costs nothing.
        return True
    return size is None or size < 0 or size > STREAM_PAST_BYTES
