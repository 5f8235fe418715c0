"""Who answers a sandbox's request: Cloudflare's decision procedure, in order, with no I/O.

Two layers, as in production:

1. ``route`` — does the connection reach ``ContainerProxy`` at all? (contract §1.8, §2.2) Only HTTP on port 80
   and HTTPS on 443 with an SNI are intercepted, and only as the class's interception mode registered them.
   Everything else goes straight out when ``enableInternet`` is on and is refused when it is off.
2. ``decide`` — ``ContainerProxy.fetch``'s nine steps (contract §1.7), one numbered comment per step.

``decide_request`` puts them together. The result says which step decided, for the audit line and for
``outbound request``'s stderr.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any, Literal

from emulator.hosts import EgressAddress, first_glob_match, matches_host_list
from emulator.policy import CATCH_ALL_HANDLER, Override, Policy

ORIGIN_DISALLOWED = "Origin is disallowed"  # contract §1.7: the body of every 520 ContainerProxy returns
ORIGIN_DISALLOWED_STATUS = 520


class Step(enum.Enum):
    """The rule that decided a request, named as the audit log names it."""

    NOT_INTERCEPTED = "not intercepted"
    DENIED_HOST = "denied host"  # 1
    NOT_ALLOWLISTED = "not allowlisted"  # 2
    RUNTIME_BY_HOST = "runtime per-host"  # 3
    STATIC_BY_HOST = "static per-host"  # 4
    PER_HOST_FALLBACK = "per-host mode fallback"  # 4, when only static per-host hosts are intercepted
    RUNTIME_CATCH_ALL = "runtime catch-all"  # 5
    STATIC_CATCH_ALL = "static catch-all"  # 6
    ALLOWLIST_PASSTHROUGH = "allowlist passthrough"  # 7
    INTERNET_PASSTHROUGH = "internet passthrough"  # 8
    BLOCKED = "blocked"  # 9


@dataclass(frozen=True)
class Deny:
    """Answer 520 ``Origin is disallowed``."""

    step: Step


@dataclass(frozen=True)
class Passthrough:
    """Send the request to its destination unchanged (``fetch(request)`` in ContainerProxy)."""

    step: Step


@dataclass(frozen=True)
class Refuse:
    """Not intercepted and ``enableInternet`` is off: the sandbox sees its connection closed."""

    step: Step = Step.NOT_INTERCEPTED


@dataclass(frozen=True)
class RunHandler:
    """Run a user handler. ``kind`` says which registry ``key`` names."""

    step: Step
    kind: Literal["byHost", "handler"]
    key: str  # the outboundByHost pattern, or the outboundHandlers name
    runtime: bool = False  # chosen by a runtime override: ctx gets a `params` key
    params_given: bool = False
    params: Any = None

    @property
    def label(self) -> str:
        if self.kind == "byHost":
            return f'outboundByHost["{self.key}"]'
        if self.key == CATCH_ALL_HANDLER:
            return "outbound"
        return f"outboundHandlers.{self.key}"


Decision = Deny | Passthrough | Refuse | RunHandler


@dataclass(frozen=True)
class Destination:
    """Where a sandbox connection goes, as the interception layer sees it."""

    scheme: Literal["http", "https"]
    port: int
    hint: str | None  # the Host header (plain HTTP) or the TLS SNI (HTTPS); None when absent
    ip: str | None = None  # the destination address when known (an IP literal, or after DNS)


_ALL_IPV4 = EgressAddress(network=ip_network("0.0.0.0/0"), glob=None, port=80)
_ALL_IPV6 = EgressAddress(network=ip_network("::/0"), glob=None, port=80)
_ALL_SNI = EgressAddress(network=None, glob="*", port=443)


def interception_table(policy: Policy) -> tuple[tuple[EgressAddress, ...], tuple[EgressAddress, ...]]:
    """The HTTP and HTTPS registrations applyOutboundInterception() makes (container.js, contract §1.8)."""
    if not policy.using_interception:
        return (), ()
    static_keys = policy.cls.by_host_patterns or ()
    if policy.intercept_all:
        hosts = static_keys
    else:
        hosts = tuple(dict.fromkeys((*static_keys, *(h for h, _ in policy.overrides.by_host))))
    http = [_parse(host, 80) for host in hosts]
    https = [_parse(host, 443) for host in hosts] if policy.instance.intercept_https else []
    if policy.intercept_all:
        if policy.instance.intercept_https:
            https.append(_ALL_SNI)
        http += [_ALL_IPV4, _ALL_IPV6]
    return tuple(a for a in http if a is not None), tuple(a for a in https if a is not None)


def _parse(address: str, default_port: int) -> EgressAddress | None:
    try:
        return EgressAddress.parse(address, default_port)
    except ValueError:
        return None


def route(policy: Policy, destination: Destination) -> bool:
    """True when the connection is handed to ContainerProxy."""
    http, https = interception_table(policy)
    table = http if destination.scheme == "http" else https
    if destination.scheme == "https" and not destination.hint:
        # TLS without SNI is never decrypted (contract §3); only an IP registration could claim it, and
        # production then passes the bytes through untouched as well.
        return False
    # The Host header is sniffed only on port 80 (contract §2.2), so a hostname registration never claims
    # plain HTTP on another port; IP and CIDR registrations match any port they name.
    hint = destination.hint if destination.scheme == "https" or destination.port == 80 else None
    for address in table:
        if address.network is not None and address.network.prefixlen == 0:
            # 0.0.0.0/0 and ::/0: every address, whatever a host name resolved to.
            if address.port == destination.port:
                return True
            continue
        if address.matches(destination.port, hint, destination.ip):
            return True
    return False


def decide(policy: Policy, hostname: str) -> Deny | Passthrough | RunHandler:
    """ContainerProxy.fetch for a request whose normalised URL host is ``hostname`` (contract §1.7)."""
    allowed = policy.effective_allowed_hosts
    denied = policy.effective_denied_hosts
    handlers = policy.cls.handler_names

    # 1. deniedHosts blocks unconditionally.
    if denied is not None and matches_host_list(hostname, denied):
        return Deny(Step.DENIED_HOST)

    # 2. allowedHosts, when set, is a gate for everything below, per-host handlers included. An empty list is
    #    still "set" (a JS array is truthy), so it blocks every host: the code, not the docs (contract §7.1).
    if allowed is not None and not matches_host_list(hostname, allowed):
        return Deny(Step.NOT_ALLOWLISTED)

    # 3. Runtime per-host override: exact key, else the first matching glob in insertion order. An override
    #    whose handler is gone falls through.
    if handlers is not None and policy.overrides.by_host:
        overrides = dict(policy.overrides.by_host)
        pattern = first_glob_match(hostname, tuple(overrides))
        if pattern is not None and overrides[pattern].method in handlers:
            return _runtime_handler(Step.RUNTIME_BY_HOST, overrides[pattern])

    # 4. Static outboundByHost: exact key, else the first matching glob.
    if policy.cls.by_host_patterns:
        pattern = first_glob_match(hostname, policy.cls.by_host_patterns)
        if pattern is not None:
            return RunHandler(Step.STATIC_BY_HOST, "byHost", pattern)

    #    In per-host mode only the static hosts were intercepted; anything else that got here goes out only
    #    if the container could reach it anyway.
    if not policy.intercept_all:
        if allowed is not None or policy.instance.enable_internet:
            return Passthrough(Step.PER_HOST_FALLBACK)
        return Deny(Step.PER_HOST_FALLBACK)

    # 5. Runtime catch-all override (setOutboundHandler).
    catch_all = policy.overrides.catch_all
    if catch_all is not None and handlers is not None and catch_all.method in handlers:
        return _runtime_handler(Step.RUNTIME_CATCH_ALL, catch_all)

    # 6. Static catch-all (`outbound`).
    default = policy.cls.default_handler
    if default is not None and handlers is not None and default in handlers:
        return RunHandler(Step.STATIC_CATCH_ALL, "handler", default)

    # 7. The host passed the allowlist gate in step 2 and nothing handled it: it gets the internet.
    if allowed is not None:
        return Passthrough(Step.ALLOWLIST_PASSTHROUGH)

    # 8. enableInternet.
    if policy.instance.enable_internet:
        return Passthrough(Step.INTERNET_PASSTHROUGH)

    # 9. Nothing allows it.
    return Deny(Step.BLOCKED)


def _runtime_handler(step: Step, override: Override) -> RunHandler:
    return RunHandler(step, "handler", override.method, True, override.params_given, override.params)


def decide_request(policy: Policy, destination: Destination, hostname: str) -> Decision:
    """The whole path of one request: the interception layer, then ContainerProxy."""
    if not route(policy, destination):
        return Passthrough(Step.NOT_INTERCEPTED) if policy.instance.enable_internet else Refuse()
    return decide(policy, hostname)
