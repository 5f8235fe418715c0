"""One audit record per sandbox request, secrets redacted (issue 5): the records the Python API produces."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator import Emulator
from emulator.audit import REDACTED, AuditLog, AuditRecord, ConsoleLine, Redactor

SECRET = "tok-8c1e77aa-audit"
HANDLERS = """
import { Container } from "@cloudflare/containers";
interface Env { TOKEN: string }
export class Agent extends Container<Env> {
  deniedHosts = ["denied.test"];
}
Agent.outboundByHost = {
  "virtual.test": (request: Request, env: Env) => {
    console.log(`answering ${request.method} with ${env.TOKEN}`);
    console.warn("second line");
    return new Response(`hello from virtual, ${request.url}`, { status: 201 });
  },
};
Agent.outboundHandlers = {
  broken: () => { throw new Error("no"); },
};
export { ContainerProxy } from "@cloudflare/containers";
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audit-project")
    (root / "src").mkdir()
    (root / "src" / "index.ts").write_text(HANDLERS)
    (root / "wrangler.jsonc").write_text(
        '{"name": "audit", "main": "src/index.ts", "compatibility_date": "2026-04-13"}'
    )
    (root / ".dev.vars").write_text(f"TOKEN={SECRET}\n")
    return root


@pytest.fixture(scope="module")
async def emu(project: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Emulator]:
    async with Emulator.load(project, persist_to=tmp_path_factory.mktemp("state"), workers=1) as emulator:
        yield emulator


async def test_a_handled_request_is_one_record(emu: Emulator) -> None:
    emu.audit.clear()
    response = await emu.sandbox("a-1").fetch("http://virtual.test/x", method="POST", body="12345")
    assert response.status == 201
    [record] = emu.audit.records("a-1")
    assert (record.sandbox, record.method, record.url, record.status) == ("a-1", "POST", "http://virtual.test/x", 201)
    assert (record.step, record.handler) == ("static per-host", 'outboundByHost["virtual.test"]')
    assert (record.request_bytes, record.response_bytes) == (5, len(response.body))
    assert record.console == (
        ConsoleLine("log", f"answering POST with {REDACTED}"),
        ConsoleLine("warn", "second line"),
    )
    assert 0 < record.duration_ms < 10_000


async def test_denied_and_failed_requests_are_recorded(emu: Emulator) -> None:
    emu.audit.clear()
    assert (await emu.sandbox("a-2").fetch("http://denied.test/")).status == 520
    await emu.sandbox("a-2").set_outbound_handler("broken")
    assert (await emu.sandbox("a-2").fetch("http://elsewhere.test/")).status == 500
    denied, failed = emu.audit.records("a-2")
    assert (denied.step, denied.handler, denied.status) == ("denied host", None, 520)
    assert (failed.step, failed.handler, failed.status) == ("runtime catch-all", "outboundHandlers.broken", 500)
    assert emu.audit.records("nobody") == []


async def test_secrets_never_reach_the_log_file(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "outbound")
    await emu.sandbox("a-3").fetch(f"http://virtual.test/?token={SECRET}")
    assert "answering GET with" in caplog.text
    assert SECRET not in caplog.text
    assert emu.persist_to is not None
    text = (emu.persist_to / "audit.jsonl").read_text()
    assert SECRET not in text
    last = AuditRecord.from_json(json.loads(text.splitlines()[-1]))
    assert last.url == f"http://virtual.test/?token={REDACTED}"
    assert last.to_json() == emu.audit.records("a-3")[-1].to_json()


def test_redaction_covers_encoded_forms() -> None:
    redactor = Redactor(["p@ss/wörd", "abc"])  # too short to be a secret worth blanking out
    assert redactor.redact("u=p%40ss%2Fw%C3%B6rd&v=p@ss/wörd abc") == f"u={REDACTED}&v={REDACTED} abc"
    assert redactor.redact(json.dumps({"k": 'x"p@ss/wörd'})) == '{"k": "x\\"' + REDACTED + '"}'


async def test_followers_get_records_as_they_come(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    record = AuditRecord(0.0, "s", "GET", "http://a/", "blocked", None, 520, 1.0, 0, 20)
    received: list[AuditRecord] = []

    async def follow() -> None:
        async for item in audit.follow(sandbox="s"):
            received.append(item)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    audit.add(record)
    audit.add(AuditRecord(0.0, "other", "GET", "http://b/", "blocked", None, 520, 1.0, 0, 20))
    audit.close()
    await asyncio.wait_for(task, 5)
    assert received == [record]


async def test_records_added_soon_are_written_in_order_by_the_next_turn_or_at_close(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    first, second, third = (
        AuditRecord(0.0, "s", "GET", f"http://{n}/", "blocked", None, 520, 1.0, 0, 20) for n in "abc"
    )
    audit.add_soon(first)
    audit.add_soon(second)
    assert audit.records() == [] and not (tmp_path / "audit.jsonl").exists()  # still on the request's path
    await asyncio.sleep(0)
    assert audit.records() == [first, second]
    audit.add_soon(third)
    audit.close()  # what is still held is written, not lost
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [AuditRecord.from_json(json.loads(line)) for line in lines] == [first, second, third]
