"""Apply a decision to one sandbox request: answer 520, pass it to its destination, or run a handler.

The handler runs in the JS pool; passthrough goes out through ``Upstream`` (the same client handlers'
``fetch()`` uses). A handler that fails never fails open: the sandbox gets a 5xx whose body says which handler
failed, where (the user's TS file and line) and what to do, and the full error goes to the log. A handler's
response is screened for known secrets before the sandbox gets it (``reflection.py``): what was masked is
logged and carried on the answer (``warnings``) to its audit record.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field

from emulator.decide import (
    ORIGIN_DISALLOWED,
    ORIGIN_DISALLOWED_STATUS,
    Decision,
    Deny,
    Passthrough,
    Refuse,
    RunHandler,
)
from emulator.errors import SandboxConnectionError
from emulator.exchange import SandboxRequest
from emulator.reflection import (
    BodyScreen,
    Leak,
    Reflections,
    ScreenedStream,
    SecretScanner,
    Unscreenable,
    encodings_of,
    has_body,
    leak_warning,
    screen_head,
    screen_whole,
)
from emulator.runtime.pool import (
    BodyStreamError,
    ConsoleEntry,
    EnginePool,
    HandlerCall,
    HandlerError,
    HandlerException,
    HandlerRequest,
    HandlerResponse,
    HandlerReturnedNonResponse,
    HandlerTimeout,
    ResponseBody,
    WorkerLost,
)
from emulator.runtime.sourcemap import StackMapper
from emulator.upstream import Upstream, UpstreamError, UpstreamResponse

log = logging.getLogger("outbound")

TEXT_PLAIN = "text/plain;charset=UTF-8"
MAX_WARNED = 1000  # distinct leak warnings remembered (so logged once each) before they are forgotten


@dataclass(frozen=True)
class Origin:
    """Which sandbox asked, for ctx and for the log."""

    sandbox_id: str
    class_name: str  # constructor name (ctx.className, the registry key)
    container_id: str


@dataclass(eq=False)
class RequestTag:
    """Attached to a handler call so console output can name its request; collects that output."""

    sandbox_id: str
    handler: str
    method: str
    url: str
    console: list[ConsoleEntry] = field(default_factory=list)


@dataclass
class Answer:
    """A response ready to go back to the sandbox; ``body`` is bytes or an async iterator of chunks."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes | AsyncIterable[bytes]
    decision: Decision
    tag: RequestTag | None = None
    failure: str | None = None  # why the handler failed, for the audit record (the sandbox sees a 5xx)
    # For the audit record: secrets masked out of the response (a streamed body adds to it as it streams).
    warnings: list[str] = field(default_factory=list)


class Egress:
    def __init__(
        self,
        pool: EnginePool,
        upstream: Upstream,
        stacks: StackMapper,
        *,
        redact: Callable[[str], str] = str,
        reflections: Reflections | None = None,
    ) -> None:
        """``redact`` removes known secrets from the failure texts a sandbox is sent; ``reflections`` has the
        secrets a handler's response must not carry to the sandbox."""
        self.pool = pool
        self.upstream = upstream
        self.stacks = stacks
        self.redact = redact
        self.reflections = reflections
        self._warned: set[str] = set()  # leak warnings logged already: each is logged once, recorded every time
        # Set when a reload replaced this version: where a handler call decided against it goes once its pool
        # has stopped (the version serving then).
        self.replaced_by: Callable[[], Egress] | None = None

    async def answer(self, origin: Origin, request: SandboxRequest, decision: Decision) -> Answer:
        match decision:
            case Deny():
                return deny(decision)
            case Refuse():
                raise SandboxConnectionError(
                    f"connection to {request.destination.hint or request.destination.ip}:{request.destination.port} "
                    "closed: the sandbox's class does not intercept this traffic and enableInternet is false"
                )
            case Passthrough():
                return await self._passthrough(request, decision)
            case RunHandler():
                return await self.run_handler(origin, request, decision)

    async def _passthrough(self, request: SandboxRequest, decision: Passthrough) -> Answer:
        # Intercepted traffic goes where ContainerProxy's fetch(request) sends it: the request URL; traffic
        # that was never intercepted goes where the client dialled.
        url = request.dial_url if decision.step.name == "NOT_INTERCEPTED" else request.url
        try:
            response = await self.upstream.request(request.method, url, request.headers, request.body)
        except UpstreamError as error:
            answer = _failure(502, decision, f"outbound: could not reach {url}: {error}\n")
            answer.failure = f"could not reach {url}: {error}"
            return answer
        return Answer(response.status, response.reason, list(response.headers), _streamed(response), decision)

    async def run_handler(self, origin: Origin, request: SandboxRequest, decision: RunHandler) -> Answer:
        if self.pool.closed and self.replaced_by is not None:
            return await self.replaced_by().run_handler(origin, request, decision)
        call = HandlerCall(
            class_name=origin.class_name,
            kind=decision.kind,
            key=decision.key,
            container_id=origin.container_id,
            runtime=decision.runtime,
            params_given=decision.params_given,
            params=decision.params,
            label=decision.label,
        )
        handler_request = HandlerRequest(
            method=request.method, url=request.url, headers=request.js_headers(), body=request.body
        )
        tag = RequestTag(origin.sandbox_id, decision.label, request.method, request.url)
        try:
            response: HandlerResponse = await self.pool.run(call, handler_request, tag=tag)
        except HandlerError as failure:
            answer = self._handler_failed(origin, decision, failure)
            answer.tag = tag
            return answer
        answer = Answer(response.status, response.reason, response.headers, response.body, decision, tag)
        scanner = self.reflections.scanner() if self.reflections is not None else None
        if scanner is None:
            return answer
        return await self._screen(answer, scanner, origin, request.method, response.url)

    async def _screen(self, answer: Answer, scanner: SecretScanner, origin: Origin, method: str, source: str) -> Answer:
        """``answer`` with every known secret masked (reflection.py); what was masked is logged and kept in
        ``answer.warnings``. A body whose encoding cannot be decoded is not delivered (a 502 says why)."""
        decision = answer.decision
        assert isinstance(decision, RunHandler)

        def warn(leak: Leak) -> None:
            text = leak_warning(leak, decision.label, source or None)
            if text in answer.warnings:
                return
            answer.warnings.append(text)
            if text not in self._warned:  # the audit line of every such request repeats it on the terminal
                if len(self._warned) >= MAX_WARNED:
                    self._warned.clear()
                self._warned.add(text)
                log.warning("sandbox %s: %s", origin.sandbox_id, text)

        answer.reason, answer.headers, leaks = screen_head(scanner, answer.reason, answer.headers)
        for leak in leaks:
            warn(leak)
        body = answer.body
        if not has_body(method, answer.status):
            return answer
        try:
            codings = encodings_of(answer.headers)
            if isinstance(body, ResponseBody) and body.is_complete:
                body = await body.read()
            if isinstance(body, bytes):
                answer.body, found = screen_whole(scanner, body, codings)
                for name in found:
                    warn(Leak(name, "the body"))
                if codings and answer.body is not body:  # encoded again: another length
                    answer.headers = _with_length(answer.headers, len(answer.body))
                return answer
        except Unscreenable as error:
            _cancel(body)
            return self._unscreenable(answer, origin, error)
        answer.body = ScreenedStream(body, BodyScreen(scanner, codings), warn, BodyStreamError)
        if codings:  # encoded again as it streams: its length is known only at the end
            answer.headers = [(name, value) for name, value in answer.headers if name.lower() != "content-length"]
        return answer

    def _unscreenable(self, answer: Answer, origin: Origin, error: Unscreenable) -> Answer:
        decision = answer.decision
        assert isinstance(decision, RunHandler)
        handler = f"{decision.label} of {origin.class_name}"
        log.error("sandbox %s: the response of %s was not delivered: %s", origin.sandbox_id, handler, error)
        failed = _failure(
            502,
            decision,
            f"outbound: the response of the outbound handler {handler} was not delivered: {error}, so outbound "
            "cannot check it for secrets. Return the body decoded, or encoded with gzip, deflate, br or zstd.\n",
        )
        failed.tag = answer.tag
        failed.failure = f"response not delivered: {error}"
        return failed

    def _handler_failed(self, origin: Origin, decision: RunHandler, failure: HandlerError) -> Answer:
        where = self.stacks.innermost(failure.stack) if failure.stack else None
        at = f" at {where}" if where else ""
        handler = f"{decision.label} of {origin.class_name}"
        match failure:
            case HandlerReturnedNonResponse():
                status = 500
                what = f"returned something other than a Response{at}; return a Response (or fetch(request))"
            case HandlerException():
                status = 500
                name = failure.error.get("name", "Error")
                what = f"threw {name}{at}; fix the handler or catch the error and return a Response"
            case HandlerTimeout():
                status = 504
                what = f"did not return a Response in time{at}; {failure}"
            case WorkerLost(reason="restarting"):  # none was there to take it: "no JS worker is running …"
                status = 503
                what = f"could not run: {failure}"
            case WorkerLost():
                status = 503
                what = f"could not finish: its JS worker {failure}"
            case _:
                status = 500
                what = str(failure)
        detail = self.stacks.describe(failure.error) if failure.error else str(failure)
        log.error("sandbox %s: %s failed: %s", origin.sandbox_id, handler, detail)
        body = self.redact(f"outbound: the outbound handler {handler} {what}. The request was not forwarded.\n")
        answer = _failure(status, decision, body)
        answer.failure = detail.partition("\n")[0] + at  # `TypeError: boom at src/index.ts:3:9`, one line
        return answer


def deny(decision: Deny) -> Answer:
    """ContainerProxy's 520: `new Response('Origin is disallowed', { status: 520 })` (contract §1.7)."""
    body = ORIGIN_DISALLOWED.encode()
    headers = [("content-type", TEXT_PLAIN), ("content-length", str(len(body)))]
    return Answer(ORIGIN_DISALLOWED_STATUS, "", headers, body, decision)


async def _streamed(response: UpstreamResponse) -> AsyncIterator[bytes]:
    # Hands the connection back to the pool once the body was read to the end; closes it otherwise.
    finished = False
    try:
        async for chunk in response.body:
            yield chunk
        finished = True
    finally:
        response.release() if finished else response.close()


def _with_length(headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    kept = [(name, value) for name, value in headers if name.lower() != "content-length"]
    return [*kept, ("content-length", str(length))]


def _cancel(body: bytes | AsyncIterable[bytes]) -> None:
    cancel = getattr(body, "cancel", None)
    if cancel is not None:
        cancel()


def _failure(status: int, decision: Decision, text: str) -> Answer:
    body = text.encode()
    return Answer(status, "", [("content-type", TEXT_PLAIN), ("content-length", str(len(body)))], body, decision)
