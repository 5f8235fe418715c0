"""Redirects (threat model §5.8) against a real `outbound dev`, in both capture modes.

A redirect is met in one of two places. A request the sandbox sent and a handler (or ContainerProxy's own
passthrough) hands on as it is keeps workerd's redirect mode for incoming requests, "manual": the 3xx goes
back to the sandbox, and the request that follows it is decided by the policy like any other. A handler that
fetches a URL of its own follows redirects itself (Workers' default); each hop is then checked where it is
dialled: nothing on this machine or a private network is reached, and credentials stay behind on a hop to
another origin. Sandboxes belong to ``Redirected`` (fixtures/handlers/security).
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.e2e.conftest import DevServer, Result
from tests.security.conftest import Upstreams
from tests.support.upstream import LocalInternet

pytestmark = pytest.mark.e2e

CURL = ("curl", "-sS", "-m", "10", "-i")
ORIGIN_DISALLOWED = "Origin is disallowed"


def redirect(host: str, location: str, scheme: str = "http") -> str:
    return f"{scheme}://{host}/redirect/302?location={quote(location, safe='')}"


async def curl(dev: DevServer, sandbox: str, *args: str) -> Result:
    result = await dev.run(sandbox, *CURL, *args, cls="Redirected")
    assert result.code == 0, result
    return result


def statuses(output: str) -> list[int]:
    """The status of each response ``curl -i`` printed (the explicit proxy's answer to CONNECT left out)."""
    heads = re.findall(r"^HTTP/[\d.]+ (\d{3})(.*)$", output, flags=re.MULTILINE)
    return [int(status) for status, reason in heads if "connection established" not in reason.lower()]


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_handed_on_request_returns_the_redirect_and_following_it_is_denied(
    dev: DevServer, upstreams: Upstreams, scheme: str
) -> None:
    # Redirected's handler for allowed.test is `return fetch(request)`.
    url = redirect("allowed.test", "http://evil.test/record?tag=handed-on", scheme)
    result = await curl(dev, f"redir-on-{scheme}", "-L", url)
    assert statuses(result.stdout) == [302, 520]
    assert "\nlocation: http://evil.test/record?tag=handed-on\r\n" in result.stdout.lower()
    assert result.stdout.endswith(ORIGIN_DISALLOWED)
    assert upstreams.evil.requests == []


async def test_a_passthrough_returns_the_redirect_and_following_it_is_denied(
    dev: DevServer, upstreams: Upstreams
) -> None:
    # Guarded has no handler for allowed.test: ContainerProxy's own fetch(request) passes it through.
    url = redirect("allowed.test", "http://evil.test/record?tag=passthrough")
    result = await dev.run("redir-pass", *CURL, "-L", url, cls="Guarded")
    assert statuses(result.stdout) == [302, 520] and result.stdout.endswith(ORIGIN_DISALLOWED), result
    assert upstreams.evil.requests == []


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://127.0.0.1:{port}/record?tag=inside", "127.0.0.1 is an address of the emulator's own machine"),
        ("http://[::ffff:127.0.0.1]:{port}/record?tag=inside", "::ffff:7f00:1 is an address of the emulator's own"),
        ("http://localhost:{port}/record?tag=inside", "localhost is an address of the emulator's own machine"),
    ],
)
async def test_a_handlers_fetch_never_follows_a_redirect_onto_this_machine(
    dev: DevServer, internet: tuple[LocalInternet, Upstreams], upstreams: Upstreams, location: str, reason: str
) -> None:
    # The evil server listens on 127.0.0.1: a redirect that reached this machine would be recorded there.
    port = internet[0].connect_to["evil.test"].rsplit(":", 1)[1]
    result = await curl(dev, "redir-inside", redirect("handled.test", location.format(port=port)))
    assert statuses(result.stdout) == [500]
    assert (
        'the outbound handler outboundByHost["handled.test"] of Redirected threw TypeError at src/index.ts:'
        in result.stdout
    )
    assert result.stdout.endswith("The request was not forwarded.\n")
    assert upstreams.evil.requests == [] and upstreams.allowed.requests == []
    log = dev.log.read_text()
    assert "fetch() refused http://" in log and reason in log


async def test_a_handlers_credentials_stay_behind_on_a_cross_origin_redirect(
    dev: DevServer, upstreams: Upstreams
) -> None:
    # Same origin: the handler's credentials arrive, so their absence below is the redirect's doing.
    result = await curl(dev, "redir-creds", redirect("handled.test", "/record?tag=same"))
    assert statuses(result.stdout) == [200]
    [same] = upstreams.allowed.requests
    assert ["authorization", "Bearer from-the-handler"] in same["headers"]
    # Another origin: a handler's own fetch() is not bound by the sandbox's deniedHosts (in production neither),
    # but what the handler added for handled.test does not travel to evil.test.
    result = await curl(dev, "redir-creds", redirect("handled.test", "http://evil.test/record?tag=cross"))
    assert statuses(result.stdout) == [200]
    [cross] = upstreams.evil.requests
    assert cross["path"] == "/record?tag=cross"
    assert [name for name, _ in cross["headers"] if name.lower() in ("authorization", "cookie")] == []
