"""emulator/pytest_plugin/audit.py on a real AuditLog: field matching, and failures that list the records."""

from __future__ import annotations

import pytest

from emulator.audit import AuditLog, AuditRecord
from emulator.decide import Step
from emulator.pytest_plugin.audit import AuditView


def record(url: str, step: Step, status: int | None, handler: str | None = None) -> AuditRecord:
    return AuditRecord(
        time=1_700_000_000.0,
        sandbox="agent-1",
        method="GET",
        url=url,
        step=step.value,
        handler=handler,
        status=status,
        duration_ms=1.0,
        request_bytes=0,
        response_bytes=0,
    )


@pytest.fixture
def audit() -> AuditView:
    log = AuditLog(None)
    log.add(record("https://api.github.com/user", Step.STATIC_BY_HOST, 200, 'outboundByHost["api.github.com"]'))
    log.add(record("http://evil.example/x", Step.NOT_ALLOWLISTED, 520))
    return AuditView(log)


def test_one_matches_fields_a_step_and_the_host(audit: AuditView) -> None:
    assert audit.one(host="evil.example").status == 520
    assert audit.one(step=Step.STATIC_BY_HOST, sandbox="agent-1").url == "https://api.github.com/user"
    assert audit.one(step="not allowlisted").status == 520
    assert [r.status for r in audit.find(sandbox="agent-1")] == [200, 520]


def test_one_without_a_match_lists_what_did_happen(audit: AuditView) -> None:
    with pytest.raises(AssertionError) as raised:
        audit.one(host="github.com", status=200)
    message = str(raised.value)
    assert message.startswith("expected 1 audit record with host='github.com', status=200, found 0\n")
    assert "agent-1 GET https://api.github.com/user → 200 by outboundByHost" in message
    assert "agent-1 GET http://evil.example/x → 520 by not allowlisted" in message


def test_none_lists_the_records_that_match(audit: AuditView) -> None:
    audit.none(host="github.com")
    with pytest.raises(AssertionError, match=r"expected no audit record with step='not allowlisted', found 1:\n"):
        audit.none(step=Step.NOT_ALLOWLISTED)


def test_an_unknown_field_names_the_known_ones(audit: AuditView) -> None:
    with pytest.raises(TypeError, match="audit records have no field code; use time, sandbox, method, url, step"):
        audit.find(code=200)
