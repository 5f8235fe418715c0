"""One catch-all handler lets GETs through and logs and refuses everything else.

Run with `pytest` in this folder.
"""

import pytest

from emulator import Emulator, Step
from emulator.pytest_plugin import AuditView, UpstreamStub


@pytest.mark.parametrize("url", ["http://example.com/data", "https://example.com/data"])
async def test_a_get_goes_through_unchanged(outbound: Emulator, upstream: UpstreamStub, url: str) -> None:
    upstream.respond("example.com", "/data", body="payload")

    response = await outbound.sandbox("agent-1").fetch(url, headers={"accept": "text/plain"})

    assert (response.status, response.text()) == (200, "payload")
    assert response.decision.step == Step.STATIC_CATCH_ALL
    assert (upstream.last.method, upstream.last.url, upstream.last.headers["accept"]) == ("GET", url, "text/plain")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_anything_else_is_refused_logged_and_never_sent(
    outbound: Emulator, upstream: UpstreamStub, audit: AuditView, method: str
) -> None:
    response = await outbound.sandbox("agent-1").fetch("https://api.example.com/items", method=method, body="{}")

    assert (response.status, response.reason, response.text()) == (405, "Method Not Allowed", "Not Allowed")
    assert [line.message for line in response.console] == [
        f"Container making {method} request to: https://api.example.com/items"
    ]
    assert upstream.requests == []
    record = audit.one(sandbox="agent-1", method=method)
    assert (record.status, record.handler) == (405, "outbound")
    assert [line.message for line in record.console] == [line.message for line in response.console]
