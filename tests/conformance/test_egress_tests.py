"""cloudflare/containers examples/egress-tests, case by case (contract §6, §9 cases 1–6)."""

from __future__ import annotations

import pytest

from emulator import Deny, Emulator, RunHandler, Step

ORIGIN_DISALLOWED = b"Origin is disallowed"


@pytest.mark.parametrize(
    ("url", "status", "body", "step"),
    [
        ("http://denied.com/", 520, ORIGIN_DISALLOWED, Step.DENIED_HOST),  # case 1
        ("http://random.com/", 520, ORIGIN_DISALLOWED, Step.NOT_ALLOWLISTED),  # case 2
        ("http://by-host.com/", 200, b"outboundByHost: by-host.com", Step.STATIC_BY_HOST),  # case 3
        ("http://allowed.com/", 200, b"catch-all: allowed.com", Step.STATIC_CATCH_ALL),  # case 4
        ("http://api.globtest.com/", 200, b"outboundByHost glob: api.globtest.com", Step.STATIC_BY_HOST),  # case 5
        ("http://a.b.globtest.com/", 200, b"outboundByHost glob: a.b.globtest.com", Step.STATIC_BY_HOST),
        ("http://globtest.com/", 520, ORIGIN_DISALLOWED, Step.NOT_ALLOWLISTED),
        ("https://by-host.com/", 200, b"outboundByHost: by-host.com", Step.STATIC_BY_HOST),  # interceptHttps
        ("https://denied.com/", 520, ORIGIN_DISALLOWED, Step.DENIED_HOST),
    ],
)
async def test_egress_fixture(egress_tests: Emulator, url: str, status: int, body: bytes, step: Step) -> None:
    response = await egress_tests.sandbox("egress-1").fetch(url)
    assert (response.status, response.body, response.decision.step) == (status, body, step)
    if status == 520:
        assert response.header("content-type") == "text/plain;charset=UTF-8"


async def test_deny_host_at_runtime_blocks_the_trailing_dot_form(egress_tests: Emulator) -> None:
    # case 6
    sandbox = egress_tests.sandbox("egress-deny")
    assert (await sandbox.fetch("http://allowed.com/")).status == 200
    await sandbox.deny_host("allowed.com")
    response = await sandbox.fetch("http://allowed.com./")
    assert (response.status, response.body) == (520, ORIGIN_DISALLOWED)
    assert response.decision == Deny(Step.DENIED_HOST)
    # other sandboxes keep their own policy
    assert (await egress_tests.sandbox("egress-other").fetch("http://allowed.com/")).status == 200


async def test_the_handler_sees_the_url_production_builds(egress_tests: Emulator) -> None:
    response = await egress_tests.sandbox("egress-1").fetch("http://API.GlobTest.com:80/x?y=1")
    assert response.body == b"outboundByHost glob: api.globtest.com"
    assert response.decision == RunHandler(Step.STATIC_BY_HOST, "byHost", "*.globtest.com")
