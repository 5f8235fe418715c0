"""Apply a decision to one sandbox request: answer 520, pass it to its destination, or run a handler.

The handler runs in the JS pool; passthrough goes out through ``Upstream`` (the same client handlers'
``fetch()`` uses). A handler that fails never fails open: the sandbox gets a 5xx whose body says which handler
failed, where (the user's TS file and line) and what to do, and the full error goes to the log.
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
from emulator.runtime.pool import (
    ConsoleEntry,
    EnginePool,
    HandlerCall,
    HandlerError,
    HandlerException,
    HandlerRequest,
    HandlerResponse,
    HandlerReturnedNonResponse,
    HandlerTimeout,
    WorkerLost,
)
from emulator.runtime.sourcemap import StackMapper
from emulator.upstream import Upstream, UpstreamError, UpstreamResponse

log = logging.getLogger("outbound")

TEXT_PLAIN = "text/plain;charset=UTF-8"


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


class Egress:
    def __init__(
        self, pool: EnginePool, upstream: Upstream, stacks: StackMapper, *, redact: Callable[[str], str] = str
    ) -> None:
        """``redact`` removes known secrets from the failure texts a sandbox is sent."""
        self.pool = pool
        self.upstream = upstream
        self.stacks = stacks
        self.redact = redact
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
        return Answer(response.status, response.reason, response.headers, response.body, decision, tag)

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


def _failure(status: int, decision: Decision, text: str) -> Answer:
    body = text.encode()
    return Answer(status, "", [("content-type", TEXT_PLAIN), ("content-length", str(len(body)))], body, decision)
